"""Database engines for the CRM (read) and feedgen's own tables (write), on one connection URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from . import migrations
from .errors import SourceError, StateError
from .tokens import scrub

SQLITE_CACHED_STATEMENTS = 8


def open_engine(url: str) -> Engine:
    """Create an engine and check that the database answers; SourceError says why not."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        # SQLAlchemy's default PostgreSQL driver is psycopg 3; feedgen[postgres] ships psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    # Parameters hold feed tokens and object keys: never in an error message or a log line.
    options: dict[str, Any] = {"future": True, "hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # sqlite3 keeps 128 prepared statements per connection by default. A batch's reads are
        # IN lists of up to 2,000 ids, each length its own statement, so over a large rebuild
        # the cache filled with big ones: 20 MB more resident at 10,000 users than at 1,000.
        options["connect_args"] = {"timeout": 30, "cached_statements": SQLITE_CACHED_STATEMENTS}
    else:
        options["pool_pre_ping"] = True
        # No thread waits for ever on a database that went silent: connecting gives up after
        # 10 s, and TCP keepalives find a connection whose server vanished within about a minute.
        options["connect_args"] = {
            "connect_timeout": 10,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
    try:
        engine = create_engine(parsed, **options)
    except (ImportError, NoSuchModuleError, ArgumentError) as exc:
        raise SourceError(
            f"cannot use the database URL {parsed.render_as_string(hide_password=True)}: {exc}; "
            "check database.url (PostgreSQL needs: pip install 'feedgen[postgres]')"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        raise SourceError(
            f"cannot connect to the database {parsed.render_as_string(hide_password=True)}: "
            f"{_first_line(exc)}; check database.url"
        ) from None
    return engine


def describe_error(exc: SQLAlchemyError) -> str:
    """A database error in a few words: the driver's first line, never the SQL or parameters."""
    return f"database error: {_first_line(exc)}"


def _first_line(exc: SQLAlchemyError) -> str:
    # str(exc) of a DBAPIError appends the statement; the driver's own error (orig) does not.
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return scrub(lines[0] if lines else type(orig).__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI and the worker read while the other writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def require_current_schema(engine: Engine) -> None:
    """Raise StateError unless feedgen's tables are at the migration head."""
    current, head = migrations.current_revision(engine), migrations.head_revision(engine)
    if current is None:
        raise StateError("feedgen's tables do not exist yet; run `feedgen db upgrade`")
    if current != head:
        raise StateError(
            f"feedgen's tables are at revision {current}, this version needs {head}; "
            "run `feedgen db upgrade`"
        )
