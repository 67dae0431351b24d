"""Change detection of users and teams (``changes.sync_subjects``): fingerprints against the CRM."""

from __future__ import annotations

import sqlalchemy as sa

from feedgen.crm import tables as crm_tables
from feedgen.crm.index import Changes
from feedgen.crm.subjects import sync_subjects
from tests.factories import Crm


def sync(engine: sa.Engine) -> Changes:
    with engine.begin() as conn:
        return sync_subjects(conn)


def test_the_first_pass_finds_every_user_and_team(crm: Crm, engine: sa.Engine) -> None:
    anna, ben = crm.user("Anna Schmidt"), crm.user("Ben Li")
    team = crm.team("Sales North", [anna, ben])
    found = sync(engine)
    assert (found.users, found.redrawn, found.teams) == ({anna, ben}, {anna, ben}, {team})


def test_a_pass_with_nothing_changed_finds_nothing(crm: Crm, engine: sa.Engine) -> None:
    anna = crm.user("Anna Schmidt")
    crm.team("Sales North", [anna])
    sync(engine)
    found = sync(engine)
    assert (found.users, found.redrawn, found.teams) == (set(), set(), set())


def test_a_renamed_user_is_redrawn_alone(crm: Crm, engine: sa.Engine) -> None:
    anna = crm.user("Anna Schmidt")
    crm.user("Ben Li")
    sync(engine)
    crm.update_user(anna, name="Anna Berg")
    found = sync(engine)
    assert (found.users, found.redrawn) == ({anna}, {anna})
    assert sync(engine).users == set()  # the new fingerprint was stored


def test_a_user_gone_from_the_crm_is_found_once(crm: Crm, engine: sa.Engine) -> None:
    crm.user("Anna Schmidt")
    ben = crm.user("Ben Li")
    sync(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(crm_tables.users).where(crm_tables.users.c.id == ben))
    assert sync(engine).redrawn == {ben}
    assert sync(engine).redrawn == set()


def test_a_member_who_leaves_redraws_the_team_and_that_member(crm: Crm, engine: sa.Engine) -> None:
    anna, ben = crm.user("Anna Schmidt"), crm.user("Ben Li")
    team = crm.team("Sales North", [anna, ben])
    sync(engine)
    crm.remove_member(team, ben)
    found = sync(engine)
    assert (found.teams, found.users, found.redrawn) == ({team}, {ben}, {ben})


def test_users_gone_and_new_anywhere_in_id_order_are_found_together(
    crm: Crm, engine: sa.Engine
) -> None:
    agents = [crm.user(f"Agent {i}") for i in range(6)]
    sync(engine)
    gone = {agents[0], agents[3], agents[5]}  # the first, one between, the last
    with engine.begin() as conn:
        conn.execute(sa.delete(crm_tables.users).where(crm_tables.users.c.id.in_(gone)))
    newcomer = crm.user("Zoë Neu")
    found = sync(engine)
    assert (found.users, found.redrawn) == (gone | {newcomer}, gone | {newcomer})
    assert sync(engine).users == set()


def test_a_team_gone_from_the_crm_is_found_once(crm: Crm, engine: sa.Engine) -> None:
    anna = crm.user("Anna Schmidt")
    sales, lettings = crm.team("Sales", [anna]), crm.team("Lettings", [anna])
    sync(engine)
    with engine.begin() as conn:
        tm, t = crm_tables.team_members, crm_tables.teams
        conn.execute(sa.delete(tm).where(tm.c.team_id == sales))
        conn.execute(sa.delete(t).where(t.c.id == sales))
    found = sync(engine)
    assert (found.teams, found.users) == ({sales}, set())
    assert sync(engine).teams == set()
    assert lettings not in found.teams


def test_a_member_who_joins_an_empty_team_redraws_it(crm: Crm, engine: sa.Engine) -> None:
    office = crm.team("New Office", [])
    assert sync(engine).teams == {office}
    anna = crm.user("Anna Schmidt")
    with engine.begin() as conn:
        values = {"team_id": office, "user_id": anna, "role": "member"}
        conn.execute(sa.insert(crm_tables.team_members).values(**values))
    found = sync(engine)
    assert (found.teams, found.redrawn) == ({office}, {anna})
