"""The feed URL lifecycle on both databases: issue, rotate, revoke, options, keys."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from feedgen.errors import FeedNotFound
from feedgen.model import Feed, FeedOptions, SubjectKind
from feedgen.state import tables as state
from feedgen.state.feeds import active_feed, issue_feed, revoke_feed, rotate_feed, set_options
from feedgen.tokens import object_key, page_key
from tests.conftest import NOW
from tests.factories import Crm

LATER = NOW + timedelta(days=14)
USER = SubjectKind.USER


@pytest.fixture
def anna(crm: Crm) -> int:
    return crm.user("Anna Schmidt", email="anna.schmidt@tesoro.example")


def issue(engine: sa.Engine, user_id: int, **options: object) -> Feed:
    with engine.begin() as conn:
        return issue_feed(conn, USER, user_id, NOW, FeedOptions(**options))  # type: ignore[arg-type]


def queued(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(state.deletions.c.object_key)).scalars())


def dirty(engine: sa.Engine, feed_id: int) -> bool:
    b = state.builds
    with engine.connect() as conn:
        return bool(conn.execute(sa.select(b.c.dirty).where(b.c.feed_id == feed_id)).scalar_one())


def stored(engine: sa.Engine, feed_id: int) -> sa.Row:
    f = state.feeds
    with engine.connect() as conn:
        return conn.execute(sa.select(f).where(f.c.id == feed_id)).one()


def clear_dirty(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(state.builds).values(dirty=False))


# --- issue ------------------------------------------------------------------------------------


def test_issuing_twice_returns_the_same_feed(engine: sa.Engine, anna: int) -> None:
    first, second = issue(engine, anna), issue(engine, anna, busy_only=True)
    assert (second.id, second.token) == (first.id, first.token)
    assert second.options == FeedOptions()


def test_a_new_feed_is_queued_for_its_first_build(engine: sa.Engine, anna: int) -> None:
    assert dirty(engine, issue(engine, anna).id)


def test_a_token_is_long_and_url_safe(engine: sa.Engine, crm: Crm) -> None:
    tokens = [issue(engine, crm.user(f"Agent {n}")).token for n in range(5)]
    assert all(len(t) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in tokens)
    assert len(set(tokens)) == len(tokens)


def test_the_object_key_is_the_token_and_nothing_personal(engine: sa.Engine, anna: int) -> None:
    feed = issue(engine, anna)
    key = object_key(feed.token)
    assert key == f"{feed.token}.ics"
    personal = [str(anna), "anna", "schmidt", "tesoro"]
    assert [p for p in personal if p in key.lower().replace(feed.token.lower(), "")] == []


def test_the_page_has_a_random_key_of_its_own(engine: sa.Engine, anna: int) -> None:
    feed = issue(engine, anna)
    key = page_key(feed.page_token)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}\.html", key)
    assert feed.token not in key
    other = issue(engine, Crm(engine, NOW).user("Ben Li"))
    assert key != page_key(other.page_token)


def test_the_page_key_cannot_be_derived_from_the_feed_token(engine: sa.Engine, anna: int) -> None:
    """Two feeds whose tokens were equal would still have unrelated page keys: the page token is
    drawn on its own, not computed from the feed token."""
    feed = issue(engine, anna)
    assert stored(engine, feed.id).page_token == feed.page_token
    with engine.begin() as conn:
        old, new = rotate_feed(conn, USER, anna, LATER)
    assert new.page_token not in (old.page_token, new.token, old.token)


def test_an_unknown_user_has_no_feed(engine: sa.Engine, anna: int) -> None:
    with pytest.raises(FeedNotFound, match="no CRM user with id 999999"):
        issue(engine, 999_999)


def test_an_inactive_user_gets_no_feed(engine: sa.Engine, crm: Crm) -> None:
    former = crm.user("Former Agent", active=False)
    with pytest.raises(FeedNotFound, match="inactive"):
        issue(engine, former)


def test_an_unknown_team_has_no_feed(engine: sa.Engine, anna: int) -> None:
    with engine.begin() as conn, pytest.raises(FeedNotFound, match="no CRM team"):
        issue_feed(conn, SubjectKind.TEAM, 999_999, NOW)


def test_concurrent_issues_create_one_feed(engine: sa.Engine, anna: int) -> None:
    tokens: list[str] = []
    errors: list[BaseException] = []

    def second_request() -> None:
        try:
            with engine.begin() as conn:
                tokens.append(issue_feed(conn, USER, anna, NOW).token)
        except BaseException as exc:  # reported below, never swallowed
            errors.append(exc)

    with engine.begin() as first:
        tokens.append(issue_feed(first, USER, anna, NOW).token)
        other = threading.Thread(target=second_request)
        other.start()
        other.join(timeout=1.0)  # the second request runs while the first is uncommitted
    other.join(timeout=30)
    f = state.feeds
    with engine.connect() as conn:
        active = conn.execute(
            sa.select(f.c.token).where(f.c.subject_id == anna, f.c.revoked_at.is_(None))
        ).scalars()
        assert len(list(active)) == 1
    assert errors == [] and len(set(tokens)) == 1


# --- rotate -----------------------------------------------------------------------------------


def test_rotating_gives_a_new_token(engine: sa.Engine, anna: int) -> None:
    old = issue(engine, anna)
    with engine.begin() as conn:
        _, new = rotate_feed(conn, USER, anna, LATER)
        current = active_feed(conn, USER, anna)
    assert new.id == old.id and new.token != old.token
    assert current is not None and current.token == new.token
    assert stored(engine, old.id).rotated_at == LATER


def test_rotating_queues_the_old_feed_and_page_for_deletion(engine: sa.Engine, anna: int) -> None:
    old = issue(engine, anna)
    with engine.begin() as conn:
        _, new = rotate_feed(conn, USER, anna, LATER)
    assert queued(engine) == {object_key(old.token), page_key(old.page_token)}
    assert not queued(engine) & {object_key(new.token), page_key(new.page_token)}


def test_rotating_rebuilds_the_feed(engine: sa.Engine, anna: int) -> None:
    feed = issue(engine, anna)
    clear_dirty(engine)
    with engine.begin() as conn:
        rotate_feed(conn, USER, anna, LATER)
    assert dirty(engine, feed.id)


def test_rotating_a_user_without_feed_is_not_found(engine: sa.Engine, anna: int) -> None:
    with engine.begin() as conn, pytest.raises(FeedNotFound, match="no active feed"):
        rotate_feed(conn, USER, anna, LATER)


# --- revoke -----------------------------------------------------------------------------------


def test_revoking_ends_the_feed(engine: sa.Engine, anna: int) -> None:
    feed = issue(engine, anna)
    with engine.begin() as conn:
        revoke_feed(conn, USER, anna, LATER)
        assert active_feed(conn, USER, anna) is None
    assert stored(engine, feed.id).revoked_at == LATER


def test_revoking_queues_the_feed_and_page_for_deletion(engine: sa.Engine, anna: int) -> None:
    feed = issue(engine, anna)
    with engine.begin() as conn:
        revoke_feed(conn, USER, anna, LATER)
    assert queued(engine) == {object_key(feed.token), page_key(feed.page_token)}


def test_revoking_returns_the_feed_as_stored(engine: sa.Engine, anna: int) -> None:
    issue(engine, anna)
    with engine.begin() as conn:
        revoked = revoke_feed(conn, USER, anna, LATER)
    assert (revoked.rotated_at, revoked.revoked_at) == (None, LATER)


def test_a_revoked_user_can_be_issued_a_fresh_feed(engine: sa.Engine, anna: int) -> None:
    old = issue(engine, anna)
    with engine.begin() as conn:
        revoke_feed(conn, USER, anna, LATER)
    new = issue(engine, anna)
    assert new.id != old.id and new.token != old.token


def test_revoking_twice_is_not_found(engine: sa.Engine, anna: int) -> None:
    issue(engine, anna)
    with engine.begin() as conn:
        revoke_feed(conn, USER, anna, LATER)
    with engine.begin() as conn, pytest.raises(FeedNotFound):
        revoke_feed(conn, USER, anna, LATER)


# --- options ----------------------------------------------------------------------------------


def test_changing_options_stores_them_and_rebuilds_the_feed(engine: sa.Engine, anna: int) -> None:
    feed = issue(engine, anna)
    clear_dirty(engine)
    options = FeedOptions(busy_only=True, days_ahead=90, kinds=frozenset({"meeting", "viewing"}))
    with engine.begin() as conn:
        set_options(conn, USER, anna, options)
        current = active_feed(conn, USER, anna)
    assert dirty(engine, feed.id)
    assert current is not None and current.options == options
