"""Database engines for the CRM (read) and feedgen's own tables (write), on one connection URL."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from .errors import SourceError
from .tokens import scrub
from .undecodable import SQL_ASCII_CODEC, decode_text

log = logging.getLogger(__name__)

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
    elif parsed.get_driver_name() == "psycopg2":
        event.listen(engine, "connect", _postgres_text)
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
    # Text that is not valid UTF-8 is read with U+FFFD in place of the bad bytes instead of
    # failing the whole read (``undecodable``).
    dbapi_connection.text_factory = decode_text
    # WAL lets the CLI and the worker read while the other writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _postgres_text(dbapi_connection: Any, _record: Any) -> None:
    """On a SQL_ASCII database, read text as UTF-8 with bad bytes replaced.

    Such a database stores any bytes and hands them back unchecked, and psycopg2 decodes them as
    ASCII: one byte above 127, even of valid UTF-8, fails the whole read. Every other encoding is
    checked by the server and converted as usual.
    """
    if dbapi_connection.info.parameter_status("server_encoding") != "SQL_ASCII":
        return
    from psycopg2 import extensions

    # psycopg2's table of codecs by encoding name is global: only SQL_ASCII changes in it.
    extensions.encodings["SQLASCII"] = extensions.encodings["SQL_ASCII"] = SQL_ASCII_CODEC
    # psycopg2 picks its codec when the client encoding is set (a UTF8 client would make the
    # server check every byte): set another and back, so this connection uses ours.
    dbapi_connection.set_client_encoding("LATIN1")
    dbapi_connection.set_client_encoding("SQL_ASCII")


# Bound parameters per IN list: under every backend's limit, large enough to keep round trips few.
CHUNK = 2000


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def as_utc_naive(value: Any) -> datetime:
    """A database timestamp as naive UTC, to the microsecond (PostgreSQL may hand back an aware
    value)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    result: datetime = value
    return result


def db_now(conn: Connection) -> datetime:
    """The database's clock: change detection never compares our clock with the CRM's."""
    return as_utc_naive(conn.execute(select(func.current_timestamp())).scalar_one())
