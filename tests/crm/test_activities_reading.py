"""Reading a batch's activities: what its users own, and what they take part in, whoever owns
it; each activity read once, with its participants, under the same rules (window, deleted,
notes)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from feedgen.crm.activities import load_batch
from feedgen.crm.people import Users
from feedgen.model import FeedOptions
from tests.conftest import NOW
from tests.factories import Crm

WINDOW = FeedOptions().window(NOW.date())


def read(engine: sa.Engine, user_ids: list[int]) -> dict[int, list[tuple[int, int, int]]]:
    """Per user of the batch: (activity, owner, participants) of each activity it shows."""
    with engine.connect() as conn:
        batch = load_batch(conn, user_ids, WINDOW, Users(conn))
        return {
            user: sorted((a.id, a.owner_id, len(a.participants)) for a in batch.for_users([user]))
            for user in user_ids
        }


def test_an_activity_owned_outside_the_batch_is_read_for_those_taking_part(
    crm: Crm, engine: sa.Engine
) -> None:
    anna, ben, carla = crm.user("Anna Schmidt"), crm.user("Ben Li"), crm.user("Carla Diaz")
    owned = crm.activity(anna, title="Loft viewing")
    taken_part = crm.activity(carla, title="Carla's viewing", colleagues=(anna, ben))
    assert read(engine, [anna, ben]) == {
        anna: [(owned, anna, 0), (taken_part, carla, 2)],
        ben: [(taken_part, carla, 2)],
    }


def test_an_activity_owned_and_taken_part_in_within_the_batch_is_one_activity(
    crm: Crm, engine: sa.Engine
) -> None:
    anna, ben = crm.user("Anna Schmidt"), crm.user("Ben Li")
    joint = crm.activity(anna, title="Joint viewing", colleagues=(ben,))
    with engine.connect() as conn:
        batch = load_batch(conn, [anna, ben], WINDOW, Users(conn))
    assert batch.activity_count == 1
    [for_anna] = batch.for_users([anna])
    [for_ben] = batch.for_users([ben])
    assert for_anna is for_ben and for_anna.id == joint


def test_taking_part_shows_no_activity_outside_the_window_deleted_or_a_note(
    crm: Crm, engine: sa.Engine
) -> None:
    anna, carla = crm.user("Anna Schmidt"), crm.user("Carla Diaz")
    far = NOW.replace(hour=10, minute=0) + timedelta(days=400)
    crm.activity(carla, title="Next year", start=far, colleagues=(anna,))
    crm.activity(carla, title="Called off", deleted_at=NOW, colleagues=(anna,))
    crm.activity(carla, "note", title="Likes the loft", colleagues=(anna,))
    shown = crm.activity(carla, title="Tomorrow", colleagues=(anna,))
    assert read(engine, [anna]) == {anna: [(shown, carla, 1)]}
