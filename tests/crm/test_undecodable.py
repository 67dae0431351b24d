"""Text that is not valid UTF-8 in the CRM: read with U+FFFD in place of the bad bytes, one warning
naming the row, and every feed still builds.

SQLite stores whatever bytes a client hands it (old imports leave such rows behind); so does a
PostgreSQL database whose encoding is SQL_ASCII. Both are tested with real rows of bad bytes.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedgen import undecodable
from feedgen.build import Builder
from feedgen.config import Config, PublishConfig
from feedgen.crm import tables as crm_tables
from feedgen.db import open_engine
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state import migrations
from feedgen.state.feeds import issue_feed
from feedgen.tokens import object_key
from tests.conftest import NOW, PG_URL
from tests.factories import Crm
from tests.parsers import parse_all

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"))
# "Bad " and two bytes that start no UTF-8 sequence.
BAD_BYTES = "4261642080FF"
BAD_TEXT = "Bad \ufffd\ufffd"


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Warnings are said once per process: each test starts as a new one (row ids repeat)."""
    monkeypatch.setattr(undecodable, "_reported", set())


@pytest.fixture(
    params=["sqlite", pytest.param("sql_ascii", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgresql-sql-ascii"],
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A CRM and feedgen's tables in a database that can hold bytes that are not UTF-8."""
    if request.param == "sqlite":
        eng = open_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
        admin = name = None
    else:
        request.getfixturevalue("pg_server")  # skips, saying why, when no server answers
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        name = f"feedgen_test_ascii_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' TEMPLATE template0 "
                    "LC_COLLATE 'C' LC_CTYPE 'C'"
                )
            )
        eng = open_engine(sa.make_url(PG_URL).set(database=name).render_as_string(False))
    crm_tables.metadata.create_all(eng)
    migrations.upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def write_bad_bytes(engine: sa.Engine, table: str, column: str, row_id: int) -> None:
    """Store ``BAD_BYTES`` as the text of one column, as an old import would have."""
    if engine.dialect.name == "sqlite":
        value = f"CAST(X'{BAD_BYTES}' AS TEXT)"
    else:
        value = f"convert_from(decode('{BAD_BYTES}', 'hex'), 'SQL_ASCII')"
    with engine.begin() as conn:
        update = sa.text(f"UPDATE {table} SET {column} = {value} WHERE id = :id")
        assert conn.execute(update, {"id": row_id}).rowcount == 1


@dataclass
class Office:
    """Anna and Ben in a team, Carl who is about to leave, each with a feed built once."""

    crm: Crm
    builder: Builder
    storage: MemoryStorage
    anna: int
    ben: int
    carl: int
    team: int
    meeting: int  # Anna's, with an outside contact
    contact: int  # that contact's participants row
    tokens: dict[str, str]

    def feed(self, name: str) -> bytes:
        data = self.storage.get(object_key(self.tokens[name]))
        assert data is not None
        parse_all(data)
        return data


@pytest.fixture
def office(engine: sa.Engine) -> Office:
    crm = Crm(engine, NOW)
    anna = crm.user("Anna Schmidt")
    ben, carl = crm.user("Ben Li"), crm.user("Carl Berg")
    team = crm.team("Sales North", [anna, ben])
    # ASCII so far: before feedgen read SQL_ASCII databases as UTF-8, any other byte failed.
    contacts = (("Dana Buyer", "dana@example.com"),)
    meeting = crm.activity(anna, title="Viewing", location="Hauptstrasse 5", contacts=contacts)
    crm.activity(carl, title="Carl's last viewing", location="Ringstrasse 1")
    p = crm_tables.participants
    with engine.connect() as conn:
        contact = conn.execute(sa.select(p.c.id).where(p.c.activity_id == meeting)).scalar_one()
    tokens = {}
    with engine.begin() as conn:
        for name, kind, subject in [
            ("anna", SubjectKind.USER, anna),
            ("ben", SubjectKind.USER, ben),
            ("carl", SubjectKind.USER, carl),
            ("team", SubjectKind.TEAM, team),
        ]:
            tokens[name] = issue_feed(conn, kind, subject, NOW, FeedOptions()).token
    storage = MemoryStorage()
    builder = Builder(engine, storage, CONFIG, now=lambda: NOW)
    assert builder.cycle().failed == 0
    return Office(crm, builder, storage, anna, ben, carl, team, meeting, contact, tokens)


COLUMNS = [
    ("activities", "title"),
    ("activities", "description"),
    ("activities", "location"),
    ("users", "name"),
    ("users", "email"),
    ("users", "time_zone"),
    ("teams", "name"),
    ("participants", "name"),
    ("participants", "email"),
]


@pytest.mark.parametrize(("table", "column"), COLUMNS, ids=[f"{t}.{c}" for t, c in COLUMNS])
def test_bad_bytes_in_any_column_leave_every_other_feed_to_build(
    engine: sa.Engine, office: Office, caplog: pytest.LogCaptureFixture, table: str, column: str
) -> None:
    row_id = {
        "activities": office.meeting,
        "users": office.anna,
        "teams": office.team,
        "participants": office.contact,
    }[table]
    write_bad_bytes(engine, table, column, row_id)
    office.crm.edit(office.meeting)  # the CRM's save hook: the activity changed
    ben_news = office.crm.activity(office.ben, title="Ben's new viewing", location="Dock 3")
    office.crm.update_user(office.carl, active=False)
    with caplog.at_level(logging.WARNING):
        report = office.builder.cycle()
        office.builder.reconcile()  # reads every row again
    assert report.failed == 0
    assert f"activity-{ben_news}@crm.test".encode() in office.feed("ben")
    assert b"BEGIN:VEVENT" not in office.feed("carl")  # a deactivated user's feed is emptied
    warnings = [r.getMessage() for r in caplog.records if r.name == "feedgen.undecodable"]
    assert warnings == [
        f"{table}.{column} of row {row_id}: not valid UTF-8, read with U+FFFD in place of "
        "the bad bytes"
    ]
    if column != "time_zone":  # an unknown zone is named in its own warning, as always
        assert "Bad" not in caplog.text


def test_valid_utf_8_beside_bad_bytes_reads_as_it_is(engine: sa.Engine, office: Office) -> None:
    write_bad_bytes(engine, "activities", "title", office.meeting)
    office.crm.edit(office.meeting, location="Strandvejen 7, Hørsholm · 海景")
    office.crm.update_user(office.anna, name="Anna Ørsted")
    assert office.builder.cycle().failed == 0
    data = office.feed("anna").replace(b"\r\n ", b"")
    assert "X-WR-CALNAME:Anna Ørsted".encode() in data
    assert "LOCATION:Strandvejen 7\\, Hørsholm · 海景".encode() in data


def test_a_bad_title_renders_with_replacement_characters(engine: sa.Engine, office: Office) -> None:
    write_bad_bytes(engine, "activities", "title", office.meeting)
    office.crm.edit(office.meeting)
    assert office.builder.cycle().failed == 0
    assert f"SUMMARY:{BAD_TEXT}\r\n".encode() in office.feed("anna")
    assert f"SUMMARY:Anna Schmidt: {BAD_TEXT}\r\n".encode() in office.feed("team")


def test_a_bad_user_name_names_the_calendar_with_replacement_characters(
    engine: sa.Engine, office: Office
) -> None:
    write_bad_bytes(engine, "users", "name", office.anna)
    assert office.builder.cycle().failed == 0
    assert f"X-WR-CALNAME:{BAD_TEXT}".encode() in office.feed("anna")
    assert f"Owner: {BAD_TEXT}".encode() in office.feed("anna").replace(b"\r\n ", b"")


def test_a_bad_participant_name_shows_with_replacement_characters(
    engine: sa.Engine, office: Office
) -> None:
    write_bad_bytes(engine, "participants", "name", office.contact)
    office.crm.edit(office.meeting)
    assert office.builder.cycle().failed == 0
    assert f"Participants: {BAD_TEXT}".encode() in office.feed("anna").replace(b"\r\n ", b"")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Viewing",
        "Zoë Ørsted · 李 🏠".encode(),
        bytes.fromhex(BAD_BYTES),
        b"\xed\xa0\x80 a surrogate",
        b"cut short \xe2\x82",
        b"\xc0\xaf overlong",
    ],
)
def test_the_decoders_read_bytes_as_python_does_and_count_what_they_replace(
    data: bytes,
) -> None:
    expected = str(data, "utf-8", "replace")
    bad = "\ufffd" in expected
    decoders = [undecodable._python_decode_text]
    if undecodable._speedups is not None:
        decoders.append(undecodable._speedups.decode_text)
    for decode in decoders:
        before = undecodable.replacements()
        assert decode(data) == expected
        assert undecodable.replacements() - before == bad


def test_a_replacement_character_the_crm_stored_itself_is_not_reported(
    engine: sa.Engine, office: Office, caplog: pytest.LogCaptureFixture
) -> None:
    office.crm.edit(office.meeting, title="Price list \ufffd as imported")
    with caplog.at_level(logging.WARNING):
        assert office.builder.cycle().failed == 0
    assert "SUMMARY:Price list \ufffd as imported".encode() in office.feed("anna")
    assert not [r for r in caplog.records if r.name == "feedgen.undecodable"]
