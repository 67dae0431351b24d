"""Builders of model values for the rendering tests: Anna's realistic week, her feed's view, and
``render``, which renders a feed and reads it back with every parser."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from feedgen.model import Activity, ActivityKind, FeedOptions, Participant, Priority, User
from feedgen.render.content import FeedView
from feedgen.render.events import EventCache
from feedgen.render.feed import RenderedFeed, render_feed
from feedgen.render.header import CalendarHeader
from tests.parsers import parse_all

TODAY = date(2026, 11, 24)


ANNA = User(17, "Anna Schmidt", "anna.schmidt@tesoro.example", "Europe/Berlin")


BEN = User(23, "Ben Li", "ben.li@tesoro.example", "Europe/Berlin")


CLEO = User(31, "Cleo Martin", "cleo.martin@tesoro.example", "Europe/Paris")
USERS = {u.id: u for u in (ANNA, BEN, CLEO)}


HEADER = CalendarHeader("Anna Schmidt · CRM", 60)


CREATED = datetime(2026, 10, 1, 8, 0)


def at(days: int, hour: int = 10, minute: int = 0) -> datetime:
    """A UTC time ``days`` after TODAY."""
    return datetime(TODAY.year, TODAY.month, TODAY.day, hour, minute) + timedelta(days=days)


def activity(
    activity_id: int,
    kind: ActivityKind = ActivityKind.MEETING,
    title: str = "Viewing follow-up, Hauptstraße 5",
    *,
    start: datetime | None = None,
    minutes: int = 60,
    **values: object,
) -> Activity:
    if kind == ActivityKind.TASK:
        values.setdefault("due", at(2, 17))
        values.setdefault("priority", Priority.NORMAL)
    elif start is None:
        start = at(1)
    fields: dict[str, object] = {
        "id": activity_id,
        "kind": kind,
        "owner_id": ANNA.id,
        "title": title,
        "created_at": CREATED,
        "updated_at": CREATED + timedelta(days=3, seconds=activity_id),
        "description": "Discuss the offer; bring the keys.",
        "location": "Hauptstraße 5, 10115 Berlin",
        "start": start,
        "end": start + timedelta(minutes=minutes) if start is not None else None,
        "participants": (
            Participant(BEN.name, BEN.email, BEN.id),
            Participant("Clara Vogel", "clara.vogel@gmx.example"),
        ),
    }
    fields.update(values)
    return Activity(**fields)  # type: ignore[arg-type]


def week() -> list[Activity]:
    """A realistic week of Anna's: meetings, a viewing, calls and tasks, past and future."""
    return [
        activity(1201, title="Team sync", start=at(-2, 8)),
        activity(1202, ActivityKind.VIEWING, "Flat, 3 rooms; balcony", start=at(1, 14)),
        activity(1203, ActivityKind.CALL, "Call notary Dr. Weber", start=at(1, 9), minutes=15),
        activity(1204, ActivityKind.TASK, "Send contract", due=at(2, 17), priority=Priority.HIGH),
        activity(1205, ActivityKind.TASK, "Order keys", due=at(3, 0), all_day=True),
        activity(1206, title="Expo Real", start=at(5, 0), end=at(7, 0), all_day=True),
        activity(1207, ActivityKind.CALL, "Call back Mr. Özdemir", start=at(0, 15), minutes=15),
    ]


def view(**options: object) -> FeedView:
    return FeedView(
        FeedOptions(**options),  # type: ignore[arg-type]
        "crm.test",
        "https://crm.example.com/activities/{id}",
        USERS,
    )


def render(
    activities: Sequence[Activity],
    feed_view: FeedView | None = None,
    *,
    max_bytes: int = 1_000_000,
    cache: EventCache | None = None,
    header: CalendarHeader = HEADER,
) -> RenderedFeed:
    """Render a feed and check that every parser reads it the same way."""
    rendered = render_feed(
        header,
        feed_view or view(),
        activities,
        today=TODAY,
        max_bytes=max_bytes,
        cache=cache if cache is not None else EventCache(),
    )
    todos = rendered.data.count(b"\r\nBEGIN:VTODO\r\n")
    assert len(parse_all(rendered.data)) + todos == rendered.event_count
    return rendered


def unfolded_lines(data: bytes) -> list[str]:
    return data.decode().replace("\r\n ", "").split("\r\n")
