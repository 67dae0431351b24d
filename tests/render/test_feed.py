"""Rendering whole feeds: purity, order, the window, options, the size budget and the event cache.

Every feed these tests produce is read back by three independent parsers (``tests.parsers``).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

import icalendar
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import feedgen.model
import feedgen.render.content
import feedgen.render.events
import feedgen.render.feed
import feedgen.render.header
import feedgen.render.ical
import tests.render.reference
from feedgen.model import Activity, ActivityKind, Participant, Status
from feedgen.render.content import FeedView, event_content
from feedgen.render.events import EventCache, event_bytes
from feedgen.render.header import CalendarHeader
from tests.parsers import ParsedEvent, parse_all
from tests.render.factories import (
    USERS,
    activity,
    at,
    render,
    unfolded_lines,
    view,
    week,
)


def events(activities: Sequence[Activity], feed_view: FeedView | None = None) -> list[str]:
    """The UIDs of the feed's events, in the order the feed holds them."""
    data = render(activities, feed_view).data
    return [str(e["UID"]) for e in icalendar.Calendar.from_ical(data).walk("VEVENT")]


def uid(activity_id: int) -> str:
    return f"activity-{activity_id}@crm.test"


# --- purity -----------------------------------------------------------------------------------


def test_the_same_data_gives_the_same_bytes() -> None:
    cache = EventCache()
    first = render(week(), cache=cache).data
    assert render(week(), cache=cache).data == first
    assert render(week(), cache=EventCache()).data == first


def test_the_order_of_the_input_does_not_change_the_bytes() -> None:
    shuffled = week()
    random.Random(7).shuffle(shuffled)
    assert render(shuffled).data == render(week()).data


class _InstanceOfReal(type):
    # Fake clock classes must still pass isinstance() checks for real datetimes and dates.
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls._real)  # type: ignore[attr-defined]


@pytest.fixture
def other_process_time(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[datetime, str], None]]:
    """Make every clock the renderer could read (UTC and local) show another time."""

    def move_to(instant: datetime, zone: str) -> None:
        class FakeDate(dt.date, metaclass=_InstanceOfReal):
            _real = dt.date

            @classmethod
            def today(cls) -> dt.date:
                return instant.date()

        class FakeDatetime(dt.datetime, metaclass=_InstanceOfReal):
            _real = dt.datetime

            @classmethod
            def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
                return instant.replace(tzinfo=dt.UTC).astimezone(tz) if tz else instant

            @classmethod
            def utcnow(cls) -> dt.datetime:
                return instant

            @classmethod
            def today(cls) -> dt.datetime:
                return instant

        modules = [
            feedgen.model,
            feedgen.render.content,
            feedgen.render.ical,
            feedgen.render.events,
            feedgen.render.feed,
            feedgen.render.header,
            tests.render.reference,
        ]
        for module in modules:
            if hasattr(module, "datetime"):
                monkeypatch.setattr(module, "datetime", FakeDatetime)
            if hasattr(module, "date"):
                monkeypatch.setattr(module, "date", FakeDate)
        monkeypatch.setattr(time, "time", lambda: instant.replace(tzinfo=dt.UTC).timestamp())
        monkeypatch.setenv("TZ", zone)
        time.tzset()

    yield move_to
    monkeypatch.undo()
    time.tzset()


def test_rendering_reads_no_clock(
    other_process_time: Callable[[datetime, str], None],
) -> None:
    expected = render(week()).data
    other_process_time(datetime(2031, 3, 30, 1, 59, 59), "Pacific/Kiritimati")
    in_2031 = render(week(), cache=EventCache()).data
    other_process_time(datetime(2019, 7, 1, 23, 0, 0), "America/Adak")
    in_2019 = render(week(), cache=EventCache()).data
    assert in_2031 == expected and in_2019 == expected


def test_events_are_sorted_by_start_then_uid() -> None:
    same_start = at(1, 9)
    activities = [
        activity(990, start=same_start),
        activity(1001, ActivityKind.CALL, start=same_start, minutes=15),
        activity(1000, start=at(-1, 16)),
        activity(1002, ActivityKind.TASK, due=at(1, 0), all_day=True),
        activity(995, start=at(3, 7)),
    ]
    # All-day items sort at midnight; equal starts by UID, as text.
    assert events(activities) == [uid(1000), uid(1002), uid(1001), uid(990), uid(995)]


# --- the window -------------------------------------------------------------------------------

WINDOW_OPTIONS = {"days_back": 7, "days_ahead": 14}  # [2026-11-17, 2026-12-09)


@pytest.mark.parametrize(
    ("case", "shown"),
    [
        ({"start": datetime(2026, 11, 16, 22, 0), "minutes": 60}, False),
        ({"start": datetime(2026, 11, 16, 23, 30), "minutes": 60}, True),
        ({"start": datetime(2026, 11, 17, 0, 0), "minutes": 30}, True),
        ({"start": datetime(2026, 12, 8, 23, 45), "minutes": 15}, True),
        ({"start": datetime(2026, 12, 9, 0, 0), "minutes": 30}, False),
        ({"start": datetime(2026, 11, 16), "all_day": True, "end": None}, False),
        ({"start": datetime(2026, 11, 15), "all_day": True, "end": datetime(2026, 11, 17)}, True),
        ({"start": datetime(2026, 12, 8), "all_day": True, "end": None}, True),
        ({"start": datetime(2026, 12, 9), "all_day": True, "end": None}, False),
        ({"kind": ActivityKind.TASK, "due": datetime(2026, 11, 16), "all_day": True}, False),
        ({"kind": ActivityKind.TASK, "due": datetime(2026, 11, 17), "all_day": True}, True),
        ({"kind": ActivityKind.TASK, "due": datetime(2026, 12, 8, 23, 59)}, True),
        ({"kind": ActivityKind.TASK, "due": datetime(2026, 12, 9, 0, 0)}, False),
    ],
    ids=[
        "ends-before-window",
        "overlaps-window-start",
        "starts-at-window-start",
        "last-quarter-hour",
        "starts-at-window-end",
        "all-day-before-window",
        "all-day-into-window",
        "all-day-last-day",
        "all-day-after-window",
        "task-due-the-day-before",
        "task-due-the-first-day",
        "task-due-the-last-minute",
        "task-due-at-window-end",
    ],
)
def test_the_window_edges(case: dict[str, object], shown: bool) -> None:
    item = activity(1300, **case)  # type: ignore[arg-type]
    assert events([item], view(**WINDOW_OPTIONS)) == ([uid(1300)] if shown else [])


def test_a_window_of_no_days_shows_only_today() -> None:
    activities = [
        activity(1301, start=at(-1, 23), minutes=30),
        activity(1302, start=at(0, 10)),
        activity(1303, start=at(1, 0)),
    ]
    assert events(activities, view(days_back=0, days_ahead=0)) == [uid(1302)]


# --- options ----------------------------------------------------------------------------------


def test_only_the_chosen_kinds_are_shown() -> None:
    shown = events(week(), view(kinds={"meeting", "call"}))
    assert sorted(shown) == [uid(1201), uid(1203), uid(1206), uid(1207)]


@pytest.mark.parametrize("completed_tasks", [True, False])
def test_completed_tasks_follow_the_option(completed_tasks: bool) -> None:
    done = activity(1310, ActivityKind.TASK, "Send exposé", status=Status.DONE)
    open_ = activity(1311, ActivityKind.TASK, "Book photographer")
    shown = events([done, open_], view(completed_tasks=completed_tasks))
    assert shown == ([uid(1310), uid(1311)] if completed_tasks else [uid(1311)])


@pytest.mark.parametrize("kind", [k for k in ActivityKind if k != ActivityKind.NOTE])
def test_a_cancelled_activity_is_left_out(kind: ActivityKind) -> None:
    cancelled = activity(1320, kind, "Viewing cancelled by the buyer", status=Status.CANCELLED)
    assert events([cancelled, activity(1321)]) == [uid(1321)]


def test_notes_never_appear() -> None:
    note = activity(1330, ActivityKind.NOTE, "Met the Hoffmanns at the fair", start=at(1, 12))
    rendered = render([note, activity(1331)])
    assert rendered.event_count == 1
    assert b"Hoffmann" not in rendered.data and b"activity-1330" not in rendered.data


def test_a_broken_activity_is_skipped_and_named() -> None:
    broken = activity(1340, start=at(2, 10), end=at(2, 9))
    rendered = render([broken, activity(1341)])
    assert rendered.event_count == 1
    assert [str(e) for e in rendered.skipped] == ["activity 1340: ends before it starts"]


def test_tasks_as_todo_are_written_as_vtodo() -> None:
    task = activity(1350, ActivityKind.TASK, "Send contract", due=at(2, 17))
    data = render([task, activity(1351)], view(tasks_as_todo=True)).data
    calendar = icalendar.Calendar.from_ical(data)
    todos = calendar.walk("VTODO")
    assert [str(t["UID"]) for t in todos] == [uid(1350)]
    assert todos[0].decoded("DUE") == at(2, 17).replace(tzinfo=dt.UTC)
    assert [str(e["UID"]) for e in calendar.walk("VEVENT")] == [uid(1351)]


@pytest.mark.parametrize(
    ("status", "written"), [(Status.OPEN, "NEEDS-ACTION"), (Status.DONE, "COMPLETED")]
)
def test_a_vtodo_carries_the_tasks_status(status: Status, written: str) -> None:
    task = activity(1352, ActivityKind.TASK, "Send contract", status=status)
    data = render([task], view(tasks_as_todo=True)).data
    assert str(icalendar.Calendar.from_ical(data).walk("VTODO")[0]["STATUS"]) == written


def test_a_date_only_vtodo_is_due_on_its_day() -> None:
    task = activity(1353, ActivityKind.TASK, "Order keys", due=datetime(2026, 11, 27), all_day=True)
    data = render([task], view(tasks_as_todo=True)).data
    assert icalendar.Calendar.from_ical(data).walk("VTODO")[0].decoded("DUE") == date(2026, 11, 27)


def test_the_header_names_the_calendar_and_its_refresh_interval() -> None:
    header = CalendarHeader("Anna Schmidt · CRM", 90)
    lines = unfolded_lines(render(week(), header=header).data)
    expected = [
        "X-WR-CALNAME:Anna Schmidt · CRM",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H30M",
        "X-PUBLISHED-TTL:PT1H30M",
    ]
    assert [line for line in expected if line not in lines] == []


# --- the size budget --------------------------------------------------------------------------


def _sizes(activities: Sequence[Activity]) -> dict[int, int]:
    return {a.id: len(event_bytes(event_content(a, view()))) for a in activities}


def budget_feed() -> list[Activity]:
    return [
        activity(1401, title="Old viewing", start=at(-20)),
        activity(1402, title="Last week's sync", start=at(-7)),
        activity(1403, title="Yesterday's call", start=at(-1)),
        activity(1404, title="Tomorrow's viewing", start=at(1)),
        activity(1405, title="Next month's meeting", start=at(30)),
        activity(1406, title="Spring meeting", start=at(120)),
    ]


def test_a_feed_over_budget_drops_the_oldest_past_event_first() -> None:
    full = render(budget_feed()).data
    limit = len(full) - _sizes(budget_feed())[1401]
    rendered = render(budget_feed(), max_bytes=limit)
    assert (rendered.trimmed, rendered.event_count) == (1, 5)
    assert len(rendered.data) <= limit
    assert b"activity-1401@" not in rendered.data


def test_a_feed_over_budget_drops_the_furthest_future_after_the_past() -> None:
    sizes = _sizes(budget_feed())
    limit = len(render(budget_feed()).data) - sizes[1401] - sizes[1402] - sizes[1403] - 1
    rendered = render(budget_feed(), max_bytes=limit)
    kept = [str(e["UID"]) for e in icalendar.Calendar.from_ical(rendered.data).walk("VEVENT")]
    assert (rendered.trimmed, kept) == (4, [uid(1404), uid(1405)])
    assert len(rendered.data) <= limit


def test_a_feed_within_budget_is_not_trimmed() -> None:
    full = render(budget_feed()).data
    assert render(budget_feed(), max_bytes=len(full)).trimmed == 0


# --- the event cache --------------------------------------------------------------------------


def test_an_activity_is_rendered_once_for_several_feeds() -> None:
    cache = EventCache()
    shared = week()
    render(shared, cache=cache)
    render(shared[:3], cache=cache)
    render(shared[3:], cache=cache)
    assert (cache.misses, cache.hits) == (len(shared), len(shared))


def test_an_expected_event_is_kept_until_its_last_use_only() -> None:
    cache = EventCache()
    shared = week()
    variant = view().variant
    cache.expect({(a.id, variant): 2 for a in shared})
    render(shared, cache=cache)
    assert len(cache) == len(shared)
    render(shared, cache=cache)
    assert (cache.misses, cache.hits, len(cache)) == (len(shared), len(shared), 0)


def test_a_feed_with_other_options_renders_its_own_events() -> None:
    cache = EventCache()
    render(week(), cache=cache)
    busy = render(week(), view(busy_only=True), cache=cache)
    assert cache.misses == 2 * len(week())
    assert b"Team sync" not in busy.data


def test_an_edited_activity_is_rendered_again() -> None:
    cache = EventCache()
    render(week(), cache=cache)
    edited = [
        replace(a, title="Moved", updated_at=a.updated_at + timedelta(minutes=5)) for a in week()
    ]
    rendered = render(edited, cache=cache)
    assert cache.hits == 0 and rendered.data.count(b"Moved") == len(week())


def team_view(**options: object) -> FeedView:
    """Anna and Ben's team overview, with the same options as ``view(**options)``."""
    member = view(**options)
    return replace(member, team_id=7, team_member_ids=frozenset(USERS))


@pytest.mark.parametrize(
    "options",
    [{}, {"busy_only": True}, {"reminder_minutes": 30}, {"show_emails": False}],
    ids=["default", "busy-only", "reminder", "no-emails"],
)
def test_a_team_overview_writes_only_title_and_uid_of_events_its_members_rendered(
    options: dict[str, object],
) -> None:
    cache = EventCache()
    render(week(), view(**options), cache=cache)
    team = render(week(), team_view(**options), cache=cache)
    assert cache.bodies_reused == len(week())
    assert team.data == render(week(), team_view(**options)).data


def test_a_shared_body_is_dropped_after_the_last_view_that_expects_it() -> None:
    cache = EventCache()
    member, team = view(), team_view()
    cache.expect({(a.id, v.variant): 1 for a in week() for v in (member, team)})
    render(week(), member, cache=cache)
    assert len(cache) == len(week())  # the bodies, for the team overview
    render(week(), team, cache=cache)
    assert (cache.bodies_reused, len(cache)) == (len(week()), 0)


def test_views_with_other_options_share_no_bodies() -> None:
    cache = EventCache()
    render(week(), view(), cache=cache)
    render(week(), team_view(show_emails=False), cache=cache)
    assert cache.bodies_reused == 0


# --- any text ---------------------------------------------------------------------------------

TRICKY = [
    "\r\nBEGIN:VEVENT\r\n",
    "\r\nEND:VCALENDAR\r\n",
    "\nUID:activity-1@crm.test\n",
    ",",
    ";",
    "\\",
    "\\n",
    ":",
    '"',
    "^",
    "'",
    "\t",
    "\r",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\u2028",
    "\x85",
    "\ufeff",
    "é",
    "😀",
    "👩‍👩‍👧",
    "中文",
    "ا",
]
texts = st.one_of(
    st.lists(st.one_of(st.text(max_size=40), st.sampled_from(TRICKY)), max_size=8).map("".join),
    # Very long text: many folded lines, multi-byte characters across fold boundaries.
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=12), st.integers(20, 400)),
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@st.composite
def text_activities(draw: st.DrawFn) -> list[Activity]:
    count = draw(st.integers(1, 4))
    return [
        activity(
            1500 + i,
            draw(st.sampled_from([ActivityKind.MEETING, ActivityKind.VIEWING, ActivityKind.CALL])),
            draw(texts),
            start=at(draw(st.integers(-5, 40)), draw(st.integers(0, 23))),
            description=draw(texts),
            location=draw(texts),
            participants=tuple(
                Participant(name, f"contact{j}@tesoro.example")
                for j, name in enumerate(draw(st.lists(texts, max_size=3)))
            ),
        )
        for i in range(count)
    ]


def expected_summary(item: Activity) -> str:
    """The title as a calendar shows it: control characters dropped, trimmed, kind label first;
    a CR (alone or before LF) reads back as LF, since TEXT knows only one line break."""
    title = _CONTROL.sub("", item.title).strip() or "(no title)"
    title = title.replace("\r\n", "\n").replace("\r", "\n")
    labels = {ActivityKind.VIEWING: "Viewing · ", ActivityKind.CALL: "Call · "}
    return labels.get(item.kind, "") + title


@settings(max_examples=120, deadline=None)
@given(text_activities(), texts)
def test_any_text_gives_a_feed_every_parser_reads_whole(
    activities: list[Activity], calendar_name: str
) -> None:
    header = CalendarHeader(calendar_name, 60)
    rendered = render(activities, header=header)
    assert len(parse_all(rendered.data)) == len(activities)


@settings(max_examples=120, deadline=None)
@given(text_activities())
def test_any_title_reads_back_without_its_control_characters(activities: list[Activity]) -> None:
    # A literal backslash-N reads back with a word joiner: see the test below.
    assume(not any("\\N" in _CONTROL.sub("", a.title) for a in activities))
    parsed: dict[str, ParsedEvent] = parse_all(render(activities).data)
    assert {u: e.summary for u, e in parsed.items()} == {
        uid(a.id): expected_summary(a) for a in activities
    }


@pytest.mark.parametrize("title", ["Scan to C:\\Notes\\Nov", "Regex \\N{EURO SIGN} in template"])
def test_a_backslash_n_in_a_title_reads_back_as_it_looks(title: str) -> None:
    # icalendar's escaping would turn a literal backslash-N into a line break; clean_text keeps
    # it visible with an invisible WORD JOINER (U+2060) after the backslash.
    parsed = parse_all(render([activity(1600, title=title)]).data)
    assert parsed[uid(1600)].summary.replace("\u2060", "") == title
