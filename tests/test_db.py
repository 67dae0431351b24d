"""Database engines and the SQL helpers every room uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedgen.db import as_utc_naive, chunks, db_now, describe_error, open_engine
from feedgen.errors import SourceError
from feedgen.tokens import new_token


def test_a_sqlite_engine_creates_its_folder_and_uses_wal(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'deep' / 'crm.sqlite'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    assert (tmp_path / "deep" / "crm.sqlite").exists()


def test_an_unreachable_database_is_a_source_error_naming_it() -> None:
    with pytest.raises(SourceError, match="cannot connect to the database postgresql"):
        open_engine("postgresql://feedgen:secret@127.0.0.1:1/crm")


def test_a_database_error_never_shows_its_parameters(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    token = new_token()
    with engine.connect() as conn, pytest.raises(sa.exc.SQLAlchemyError) as raised:
        conn.execute(sa.text("SELECT * FROM feedgen_feeds WHERE token = :t"), {"t": token})
    message = describe_error(raised.value)
    assert message == "database error: no such table: feedgen_feeds"
    assert token not in str(raised.value)  # hide_parameters: not even SQLAlchemy's own text
    engine.dispose()


def test_chunks_cut_a_list_into_in_lists() -> None:
    assert [list(part) for part in chunks(list(range(5)), 2)] == [[0, 1], [2, 3], [4]]


def test_a_timestamp_becomes_naive_utc_to_the_microsecond() -> None:
    aware = datetime(2026, 11, 24, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc_naive(aware) == datetime(2026, 11, 24, 9, 30, 0, 123456)
    assert as_utc_naive("2026-11-24 09:30:00.5") == datetime(2026, 11, 24, 9, 30, 0, 500000)


def test_the_database_clock_is_read_as_naive_utc(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        now = db_now(conn)
    assert now.tzinfo is None
    assert abs(now - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=1)
