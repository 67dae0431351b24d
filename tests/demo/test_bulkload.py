"""Bulk loading: rows come back from each database exactly as they went in."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from feedgen.crm import tables as crm
from feedgen.demo.bulkload import bulk_mode, finish_postgres, load

STAMP = datetime(2026, 11, 24, 9, 30, 15, 123456)


def test_loaded_rows_read_back_unchanged(engine: sa.Engine) -> None:
    rows = [
        (1, 'Zoë "Z" Ørsted, Jr.', None, "Europe/Berlin", True, STAMP),
        (2, "", "two@example.com", "UTC", False, STAMP),
        (3, "Line one\nline two; \\N", "", "Asia/Tokyo", True, STAMP.replace(microsecond=0)),
    ]
    with engine.connect() as conn:
        with bulk_mode(conn):
            load(conn, crm.users, rows)
        read = conn.execute(sa.select(crm.users).order_by(crm.users.c.id)).all()
    # An empty string stays empty and a missing email stays NULL, on COPY's CSV too.
    assert [tuple(row) for row in read] == rows


def test_inserts_after_a_load_get_fresh_ids(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        load(conn, crm.teams, [(7, "Sales")])
        if conn.dialect.name == "postgresql":
            finish_postgres(conn, crm.CRM_TABLES)
        with conn.begin():
            insert = crm.teams.insert().values(name="Lettings").returning(crm.teams.c.id)
            new_id = conn.execute(insert).scalar_one()
    assert new_id == 8
