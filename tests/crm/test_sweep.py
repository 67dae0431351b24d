"""What only whole tables show (rows deleted outright, membership), a slice a cycle: seen within
the stated number of cycles, and at once on PostgreSQL when the server's row counters moved."""

from __future__ import annotations

import math
import time

import pytest
import sqlalchemy as sa

from feedgen.crm import sweep
from feedgen.crm.detect import detect
from feedgen.crm.index import EVERY, IdRange
from feedgen.state import tables as state
from tests.conftest import NOW
from tests.crm.test_detect import LOOKBACK, TODAY
from tests.factories import Crm


def cycles_until(engine: sa.Engine, seen: str, subject: int, most: int) -> int | None:
    """Detection passes until ``subject`` is among the changes' ``seen`` (users or teams)."""
    for cycle in range(1, most + 1):
        if subject in getattr(detect(engine, TODAY, LOOKBACK), seen):
            return cycle
    return None


def calls(crm: Crm, owner: int) -> list[int]:
    """Twenty of ``owner``'s calls today, their ids in order: the range the slices walk."""
    return [crm.activity(owner, title=f"Call {i}", start=NOW) for i in range(20)]


def test_slices_walk_the_id_range_and_start_again_past_the_top() -> None:
    position, slices = 0, []
    for _ in range(5):
        ids, position = sweep.next_slice(position, 10, 1, 35)
        slices.append(ids)
    assert slices == [IdRange(0, 10), IdRange(10, 20), IdRange(20, 30), IdRange(30), IdRange(0, 10)]


def test_a_table_that_one_slice_holds_is_compared_whole_every_cycle() -> None:
    assert sweep.next_slice(0, 10, 1000, 1009) == (EVERY, 0)
    assert sweep.next_slice(0, 10, None, None) == (EVERY, 0)


def test_the_positions_of_the_largest_ids_fit_the_cursor_column() -> None:
    largest = {group: 2**63 - 1 for group in sweep.GROUPS}
    value = sweep.encode(largest)
    assert len(value) <= state.cursors.c.value.type.length  # type: ignore[attr-defined]
    assert sweep.positions(value) == largest


def test_an_activity_deleted_outright_is_seen_within_the_stated_cycles(
    crm: Crm, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sweep.SLICE_IDS, "activities", 4)
    anna = crm.user("Anna Schmidt")
    ids = calls(crm, anna)
    detect(engine, TODAY, LOOKBACK)
    detect(engine, TODAY, LOOKBACK)  # the slices have moved on from the start
    crm.hard_delete(ids[2])
    bound = math.ceil((ids[-1] - ids[0] + 1) / 4) + 1
    assert cycles_until(engine, "users", anna, bound) is not None


def test_a_membership_deleted_outright_is_seen_within_the_stated_cycles(
    crm: Crm, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sweep.SLICE_IDS, "teams", 1)
    users = [crm.user(f"User {i}") for i in range(10)]
    teams = [crm.team(f"Team {i}", users[2 * i : 2 * i + 2]) for i in range(5)]
    detect(engine, TODAY, LOOKBACK)
    crm.remove_member(teams[1], users[3])
    bound = teams[-1] - teams[0] + 2
    assert cycles_until(engine, "teams", teams[1], bound) is not None


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_on_sqlite_a_slice_a_cycle_is_all_a_delete_costs_to_find(
    crm: Crm, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slices, not a whole comparison, find it: not before the sweep comes round."""
    monkeypatch.setitem(sweep.SLICE_IDS, "activities", 4)
    anna = crm.user("Anna Schmidt")
    ids = calls(crm, anna)
    detect(engine, TODAY, LOOKBACK)
    detect(engine, TODAY, LOOKBACK)  # the slice holding ids[1] is behind
    crm.hard_delete(ids[1])
    bound = math.ceil((ids[-1] - ids[0] + 1) / 4) + 1
    found = cycles_until(engine, "users", anna, bound)
    assert found is not None and 1 < found <= bound


def test_a_renamed_user_is_seen_at_once_through_updated_at(
    crm: Crm, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sweep.SLICE_IDS, "users", 1)
    users = [crm.user(f"User {i}") for i in range(10)]
    detect(engine, TODAY, LOOKBACK)
    crm.update_user(users[4], name="Renamed")
    assert cycles_until(engine, "redrawn", users[4], 1) == 1


def test_the_reconcile_compares_every_table_whole(
    crm: Crm, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for group in sweep.GROUPS:
        monkeypatch.setitem(sweep.SLICE_IDS, group, 1)
    users = [crm.user(f"User {i}") for i in range(6)]
    teams = [crm.team(f"Team {i}", users[2 * i : 2 * i + 2]) for i in range(3)]
    ids = calls(crm, users[0])
    detect(engine, TODAY, LOOKBACK)
    detect(engine, TODAY, LOOKBACK)
    crm.hard_delete(ids[0])
    crm.remove_member(teams[0], users[1])
    found = detect(engine, TODAY, LOOKBACK, full=True)
    assert found.activities_vanished == 1 and teams[0] in found.teams


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_on_postgresql_counters_reset_after_a_delete_still_compare_the_table(
    crm: Crm, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reset (pg_stat_reset, a crash) moves the counters too: one whole comparison."""
    monkeypatch.setitem(sweep.SLICE_IDS, "activities", 1)
    anna = crm.user("Anna Schmidt")
    ids = calls(crm, anna)
    crm.hard_delete(ids[0])  # counted before feedgen first looks
    _counters_moved(engine, {"activities"})
    detect(engine, TODAY, LOOKBACK)
    crm.hard_delete(ids[10])
    _counters_moved(engine, {"activities"}, deletes=2)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_stat_reset_single_table_counters('activities'::regclass)"))
    found = detect(engine, TODAY, LOOKBACK)
    assert found.activities_vanished == 1


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_on_postgresql_moved_row_counters_compare_the_table_at_once(
    crm: Crm, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sweep.SLICE_IDS, "activities", 1)
    monkeypatch.setitem(sweep.SLICE_IDS, "teams", 1)
    users = [crm.user(f"User {i}") for i in range(6)]
    teams = [crm.team(f"Team {i}", users[2 * i : 2 * i + 2]) for i in range(3)]
    ids = calls(crm, users[0])
    detect(engine, TODAY, LOOKBACK)
    crm.hard_delete(ids[10])
    crm.remove_member(teams[1], users[3])
    _counters_moved(engine, {"activities", "team_members"})
    found = detect(engine, TODAY, LOOKBACK)
    assert found.activities_vanished == 1 and teams[1] in found.teams


def _counters_moved(engine: sa.Engine, tables: set[str], deletes: int = 1) -> None:
    """Wait for the server to count the deletes (its counters lag by up to a second or so)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_user_tables WHERE relname = ANY(:t) AND n_tup_del >= :n"
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            found = conn.execute(query, {"t": sorted(tables), "n": deletes}).scalar_one()
            if found == len(tables):
                return
        time.sleep(0.2)
    raise AssertionError(f"the server did not count the deletes in {sorted(tables)}")
