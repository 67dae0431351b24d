"""Logging: a readable line per record, tracebacks only at DEBUG, never a whole token."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from .db import describe_error
from .errors import FeedgenError
from .tokens import scrub

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str, log_format: str = LOG_FORMAT, fmt: str = "text") -> None:
    """Log records at ``level`` and above to stderr as ``fmt`` lines (only "text" so far)."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(log_format, tracebacks=level == "DEBUG"))
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


def describe_failure(exc: BaseException) -> str:
    """An exception in a few words for a log line or a run record: no traceback, SQL or token."""
    if isinstance(exc, SQLAlchemyError):
        return describe_error(exc)
    if isinstance(exc, FeedgenError):
        return scrub(str(exc))
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return scrub(f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__)
