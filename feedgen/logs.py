"""Logging: a readable line per record (or a JSON object per line for a log pipeline),
tracebacks only at DEBUG, never a whole token."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from .db import describe_error
from .errors import FeedgenError
from .tokens import redact, scrub

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What ``logging.format`` accepts: the readable line, or one JSON object per line.
FORMATS = ("text", "json")


def setup_logging(level: str, fmt: str = "text", *, text_format: str = LOG_FORMAT) -> None:
    """Log to stderr at ``level`` in ``fmt`` ("text" or "json"); ``text_format`` is the
    %-style line of the text format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: expected {' or '.join(FORMATS)}")
    tracebacks = level == "DEBUG"
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter(tracebacks) if fmt == "json" else OneLineFormatter(text_format, tracebacks)
    )
    logging.basicConfig(level=getattr(logging, level), handlers=[handler])
    # botocore logs every retried request at INFO; keep the worker's log about feeds.
    for noisy in ("alembic", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))
    # A cycle skipped or coalesced behind a long reconcile is the schedule working as meant.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level == "DEBUG" else logging.ERROR)


class OneLineFormatter(logging.Formatter):
    """A line per record: an exception adds its cause in a few words, its traceback only at DEBUG.

    Whatever the line holds, anything shaped like a feed token is redacted (DESIGN invariant 7):
    exceptions of libraries can quote a URL or a key.
    """

    def __init__(self, fmt: str, tracebacks: bool) -> None:
        super().__init__(fmt)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not self.tracebacks:
            record = logging.makeLogRecord(record.__dict__)  # other handlers see the original
            record.msg = f"{record.getMessage()}: {describe_failure(exc)}"
            record.args = None
            record.exc_info = record.exc_text = None
        return scrub(super().format(record))


# What every record has: the JSON format adds only what a caller passed in ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601 UTC), level, logger, message, then what the
    record's ``extra`` holds (job, feed_id, duration_seconds, a job's counts...). A ``token`` is
    redacted; an exception is its cause in one line (``exception``), its traceback only at DEBUG
    (``traceback``). Every string, and the whole line, is scrubbed of tokens."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(str(value)) if key == "token" else value
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = describe_failure(record.exc_info[1])
            if self.tracebacks:
                entry["traceback"] = self.formatException(record.exc_info)
        line = json.dumps(_scrubbed(entry), ensure_ascii=False, default=str)
        return scrub(line)


def _scrubbed(value: Any) -> Any:
    # Before encoding too: an escape such as \n glued to a token hides it from the line's scrub.
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


def describe_failure(exc: BaseException) -> str:
    """An exception in a few words for a log line or a run record: no traceback, SQL or token."""
    if isinstance(exc, SQLAlchemyError):
        return describe_error(exc)
    if isinstance(exc, FeedgenError):
        return scrub(str(exc))
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return scrub(f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__)
