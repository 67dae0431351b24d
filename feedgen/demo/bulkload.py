"""Loading many rows fast: the driver's bulk path (executemany on SQLite, COPY on PostgreSQL).

For seeding a CRM (``demo``); each call loads one chunk in one transaction, so memory follows the
chunk, not the data.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

_SQLITE_LOAD_PRAGMAS = {"synchronous": "OFF", "cache_size": "-65536"}


@contextmanager
def bulk_mode(conn: sa.Connection) -> Iterator[None]:
    """On SQLite, trade durability for speed while loading (a failed load is seeded again)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    with conn.begin():
        saved = {k: conn.exec_driver_sql(f"PRAGMA {k}").scalar() for k in _SQLITE_LOAD_PRAGMAS}
        for key, value in _SQLITE_LOAD_PRAGMAS.items():
            conn.exec_driver_sql(f"PRAGMA {key} = {value}")
    try:
        yield
    finally:
        with conn.begin():
            for key, old in saved.items():
                conn.exec_driver_sql(f"PRAGMA {key} = {old}")


def load(conn: sa.Connection, table: sa.Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (in the table's column order) in one transaction, by the fastest path."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    name = conn.dialect.identifier_preparer.format_table(table)
    columns = ", ".join(quote(c.name) for c in table.columns)
    with conn.begin():
        if conn.dialect.name == "sqlite":
            dates = [i for i, c in enumerate(table.columns) if isinstance(c.type, sa.DateTime)]
            marks = ", ".join("?" * len(table.columns))
            cursor = conn.connection.cursor()
            cursor.executemany(
                f"INSERT INTO {name} ({columns}) VALUES ({marks})",
                [_sqlite_row(row, dates) for row in rows],
            )
            cursor.close()
        elif conn.dialect.driver == "psycopg2":
            buffer = io.StringIO()
            buffer.writelines(",".join(map(_csv, row)) + "\n" for row in rows)
            buffer.seek(0)
            cursor = conn.connection.cursor()
            cursor.copy_expert(f"COPY {name} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
            cursor.close()
        else:
            keys = [c.key for c in table.columns]
            conn.execute(table.insert(), [dict(zip(keys, row, strict=True)) for row in rows])


def _sqlite_row(row: tuple[Any, ...], dates: list[int]) -> tuple[Any, ...]:
    # SQLAlchemy stores SQLite datetimes as this exact text; any other form compares wrongly.
    values = list(row)
    for i in dates:
        if values[i] is not None:
            values[i] = values[i].isoformat(" ", "microseconds")
    return tuple(values)


def _csv(value: Any) -> str:
    # Strings always quoted: an unquoted empty field is NULL, a quoted one the empty string.
    if value is None:
        return ""
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat(" ")
    return str(value)


def finish_postgres(conn: sa.Connection, tables: Sequence[sa.Table]) -> None:
    """Move the serial sequences past the loaded ids and refresh the planner's statistics."""
    # Explicit ids leave the serial sequences at 1; move them past the data so later inserts work.
    with conn.begin():
        for table in tables:
            if "id" not in table.c or not table.c.id.primary_key:
                continue
            sequence = sa.func.pg_get_serial_sequence(table.fullname, "id")
            next_id = sa.func.coalesce(sa.func.max(table.c.id), 0) + 1
            conn.execute(sa.select(sa.func.setval(sequence, next_id, False)))
        conn.exec_driver_sql("ANALYZE " + ", ".join(t.name for t in tables))
