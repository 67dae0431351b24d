"""One detection pass on both databases: which feeds it marks dirty, and how (patched from the
last bytes with the changed activities, or built in full)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from feedgen.crm.detect import LONGEST_GAP_DAYS, detect
from feedgen.model import FeedOptions, SubjectKind
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed
from tests.conftest import NOW
from tests.factories import Crm

LOOKBACK = timedelta(minutes=10)
TODAY = NOW.date()


@pytest.fixture
def office(crm: Crm, engine: sa.Engine) -> dict[str, int]:
    """Anna and Ben in a team, Cleo outside it, each with a feed; all of it detected once."""
    anna, ben, cleo = crm.user("Anna Schmidt"), crm.user("Ben Li"), crm.user("Cleo Martin")
    team = crm.team("Sales", [anna, ben])
    ids = {"anna": anna, "ben": ben, "cleo": cleo, "team": team}
    feeds = {}
    with engine.begin() as conn:
        for name in ("anna", "ben", "cleo"):
            feeds[name] = issue_feed(conn, SubjectKind.USER, ids[name], NOW, FeedOptions()).id
        feeds["team"] = issue_feed(conn, SubjectKind.TEAM, team, NOW, FeedOptions()).id
    detect(engine, TODAY, LOOKBACK)
    clean(engine)
    return {**ids, **{f"{name}_feed": feed_id for name, feed_id in feeds.items()}}


def clean(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(state.builds).values(dirty=False, pending_ids=""))


def marks(engine: sa.Engine) -> dict[int, str | None]:
    """The dirty feeds, each with its pending activities (None: a full build)."""
    b = state.builds
    with engine.connect() as conn:
        rows = conn.execute(sa.select(b.c.feed_id, b.c.pending_ids).where(b.c.dirty)).all()
    return {feed_id: pending for feed_id, pending in rows}


def test_the_first_pass_marks_every_feed_for_a_full_build(crm: Crm, engine: sa.Engine) -> None:
    anna = crm.user("Anna Schmidt")
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.USER, anna, NOW, FeedOptions())
    detect(engine, TODAY, LOOKBACK)
    assert marks(engine) == {feed.id: None}


def test_a_pass_with_nothing_changed_marks_nothing(
    engine: sa.Engine, office: dict[str, int]
) -> None:
    detect(engine, TODAY, LOOKBACK)
    assert marks(engine) == {}


def test_an_edit_marks_its_owners_feed_and_team_with_the_activity(
    crm: Crm, engine: sa.Engine, office: dict[str, int]
) -> None:
    meeting = crm.activity(office["anna"], title="Viewing, Hauptstraße 5")
    detect(engine, TODAY, LOOKBACK)
    assert marks(engine) == {office["anna_feed"]: f",{meeting}", office["team_feed"]: f",{meeting}"}


def test_an_outside_participant_is_marked_too(
    crm: Crm, engine: sa.Engine, office: dict[str, int]
) -> None:
    meeting = crm.activity(office["anna"], colleagues=(office["cleo"],))
    detect(engine, TODAY, LOOKBACK)
    assert marks(engine)[office["cleo_feed"]] == f",{meeting}"


def test_a_renamed_user_builds_their_feed_and_team_in_full(
    crm: Crm, engine: sa.Engine, office: dict[str, int]
) -> None:
    crm.update_user(office["ben"], name="Ben Li-Schmidt")
    detect(engine, TODAY, LOOKBACK)
    assert marks(engine) == {office["ben_feed"]: None, office["team_feed"]: None}


def test_a_new_day_marks_only_feeds_with_an_activity_at_the_windows_edges(
    crm: Crm, engine: sa.Engine, office: dict[str, int]
) -> None:
    # Just inside the default window's far end now, inside it tomorrow too: untouched; one at the
    # edge the window crosses tomorrow: marked.
    edge = NOW.replace(hour=0, minute=0) + timedelta(days=FeedOptions().days_ahead + 1, hours=3)
    crm.activity(office["cleo"], start=edge)
    detect(engine, TODAY, LOOKBACK)
    clean(engine)
    detect(engine, TODAY + timedelta(days=1), LOOKBACK)
    assert set(marks(engine)) == {office["cleo_feed"]}


def test_a_long_gap_between_passes_rebuilds_everything(
    engine: sa.Engine, office: dict[str, int]
) -> None:
    detect(engine, TODAY + timedelta(days=LONGEST_GAP_DAYS + 1), LOOKBACK)
    assert set(marks(engine).values()) == {None} and len(marks(engine)) == 4
