"""Log lines and error messages: one line each, tracebacks only at DEBUG, never a whole token."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedgen.db import describe_error, open_engine
from feedgen.errors import StorageError
from feedgen.logs import LOG_FORMAT, OneLineFormatter, describe_failure
from feedgen.tokens import new_token, redact, scrub

TOKEN = new_token()


def record_of(exc: Exception, message: str = "feed 7 failed to render") -> logging.LogRecord:
    try:
        raise exc
    except Exception:
        exc_info = sys.exc_info()
    return logging.LogRecord("feedgen.build", logging.ERROR, __file__, 1, message, None, exc_info)


def test_below_debug_an_exception_adds_its_cause_to_the_line_not_its_traceback() -> None:
    line = OneLineFormatter(LOG_FORMAT, tracebacks=False).format(
        record_of(KeyError(f"no such key {TOKEN}.ics"))
    )
    assert "\n" not in line and "Traceback" not in line
    assert line.endswith(f"feed 7 failed to render: KeyError: 'no such key {redact(TOKEN)}.ics'")


def test_at_debug_the_traceback_follows_the_line() -> None:
    text = OneLineFormatter(LOG_FORMAT, tracebacks=True).format(record_of(KeyError("x")))
    assert "Traceback (most recent call last)" in text


def test_a_token_in_a_message_is_redacted() -> None:
    record = logging.LogRecord(
        "feedgen.x", logging.WARNING, __file__, 1, "put %s failed", (f"/{TOKEN}.ics",), None
    )
    line = OneLineFormatter(LOG_FORMAT, tracebacks=False).format(record)
    assert TOKEN not in line and f"/{redact(TOKEN)}.ics" in line


def test_scrub_leaves_shorter_and_longer_words_alone() -> None:
    assert scrub("x" * 42 + " " + "y" * 44) == "x" * 42 + " " + "y" * 44


def test_a_database_error_hides_its_parameters(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    with pytest.raises(sa.exc.OperationalError) as raised, engine.connect() as conn:
        conn.execute(sa.text("INSERT INTO nowhere VALUES (:token)"), {"token": TOKEN})
    assert TOKEN not in str(raised.value)
    assert describe_error(raised.value) == "database error: no such table: nowhere"
    engine.dispose()


@pytest.mark.parametrize(
    ("exc", "described"),
    [
        (StorageError(f"S3 put of {redact(TOKEN)} failed"), f"S3 put of {redact(TOKEN)} failed"),
        (RuntimeError(f"boom\nat {TOKEN}"), "RuntimeError: boom"),
        (
            sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection\nx")),
            "database error: server closed the connection",
        ),
    ],
)
def test_a_failure_is_described_in_a_few_words(exc: Exception, described: str) -> None:
    assert describe_failure(exc) == described
