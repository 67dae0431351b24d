"""Log lines and error messages: one line each (readable, or a JSON object), tracebacks only at
DEBUG, never a whole token."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from feedgen.build.report import RunReport
from feedgen.config import WorkerConfig, load_config
from feedgen.db import describe_error, open_engine
from feedgen.errors import ConfigError, StorageError
from feedgen.logs import (
    LOG_FORMAT,
    JsonFormatter,
    OneLineFormatter,
    describe_failure,
    setup_logging,
)
from feedgen.tokens import new_token, redact, scrub
from jobs.tasks import Jobs

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


# --- the JSON format ----------------------------------------------------------------------------


def json_lines(
    tracebacks: bool, log: Callable[[logging.Logger], object], name: str = "feedgen.test.json"
) -> list[dict[str, Any]]:
    """What ``log`` writes to logger ``name`` through a JsonFormatter, each line parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(tracebacks))
    logger = logging.getLogger(name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log(logger)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_the_time_level_logger_message_and_the_extra_fields() -> None:
    [entry] = json_lines(
        False,
        lambda log: log.info(
            "feed %d built", 7, extra={"job": "cycle", "feed_id": 7, "duration_seconds": 0.25}
        ),
    )
    when = datetime.fromisoformat(entry.pop("time"))
    assert when.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=1)
    assert entry == {
        "level": "INFO",
        "logger": "feedgen.test.json",
        "message": "feed 7 built",
        "job": "cycle",
        "feed_id": 7,
        "duration_seconds": 0.25,
    }


def test_a_token_is_redacted_in_the_message_and_in_its_own_field() -> None:
    [entry] = json_lines(
        False,
        lambda log: log.warning("put of %s failed\n%s", TOKEN, TOKEN, extra={"token": TOKEN}),
    )
    assert entry["token"] == redact(TOKEN)
    assert entry["message"] == f"put of {redact(TOKEN)} failed\n{redact(TOKEN)}"


def exception_lines(tracebacks: bool) -> list[dict[str, Any]]:
    def log(logger: logging.Logger) -> None:
        try:
            raise RuntimeError(f"boom at /{TOKEN}.ics\nmore of the story")
        except RuntimeError:
            logger.exception("cycle failed")

    return json_lines(tracebacks, log)


def test_an_exception_is_one_line_of_cause_without_a_traceback() -> None:
    [entry] = exception_lines(tracebacks=False)
    assert entry["message"] == "cycle failed"
    assert entry["exception"] == f"RuntimeError: boom at /{redact(TOKEN)}.ics"
    assert "traceback" not in entry


def test_at_debug_the_json_line_carries_the_traceback_too() -> None:
    [entry] = exception_lines(tracebacks=True)
    assert entry["traceback"].startswith("Traceback (most recent call last)")
    assert TOKEN not in entry["traceback"]


def test_setup_logging_in_json_writes_a_json_object_per_line_to_stderr() -> None:
    script = (
        "import logging; from feedgen.logs import setup_logging; setup_logging('INFO', 'json'); "
        "log = logging.getLogger('feedgen.worker'); log.info('one'); log.debug('hidden'); "
        "log.warning('two')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(e["level"], e["message"]) for e in entries] == [("INFO", "one"), ("WARNING", "two")]


def test_setup_logging_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="expected text or json"):
        setup_logging("INFO", "xml")


def test_the_config_key_names_the_valid_formats(tmp_path: Path) -> None:
    path = tmp_path / "feedgen.toml"
    path.write_text('[logging]\nformat = "logfmt"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="'logging.format': expected text or json, got 'logfmt'"):
        load_config(path, {})
    assert load_config(path, {"FEEDGEN_LOGGING_FORMAT": "JSON"}).logging.format == "json"


def test_the_worker_line_of_a_job_carries_its_figures() -> None:
    report = RunReport("cycle", feeds_built=9, uploaded=4, failed=1, errors={4: "render failed"})
    report.seconds, report.bytes_uploaded = 1.23456, 52_000

    class Builder:
        stop = threading.Event()

        def cycle(self) -> RunReport:
            return report

    jobs = Jobs(Builder(), WorkerConfig())  # type: ignore[arg-type]
    [entry] = json_lines(False, lambda _: jobs.cycle(), name="feedgen.worker")
    assert entry["level"] == "WARNING" and entry["message"].startswith("cycle: 9 feed(s) built")
    assert {k: entry[k] for k in ("job", "duration_seconds", "outcome")} == {
        "job": "cycle",
        "duration_seconds": 1.235,
        "outcome": "feeds_failed",
    }
    assert (entry["feeds_built"], entry["uploaded"], entry["failed"]) == (9, 4, 1)
    assert entry["bytes_uploaded"] == 52_000
