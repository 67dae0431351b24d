"""Rendering: activities in, feed bytes out. Pure: the same data and day give the same bytes.

Each activity is serialised once per run and view (``EventCache``), however many feeds show it;
a feed is its header, its events sorted by start and UID, and a footer.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import ModuleType

from . import reference
from .content import (
    DEADLINE_BLOCK,
    EventContent,
    FeedView,
    Person,
    event_content,
    event_summary,
    event_uid,
    validate,
)
from .errors import RenderError
from .ical import (
    clean_text,
    cn_param,
    dt_line,
    escape_text,
    fmt_datetime,
    fmt_duration,
    fold_line,
    join_lines,
    text_line,
    text_prop,
)
from .model import Activity, ActivityKind, Status

# The C serialiser, when pip could compile it; FEEDGEN_NO_SPEEDUPS=1 turns it off (to compare).
_speedups: ModuleType | None = None
_without_c = "FEEDGEN_NO_SPEEDUPS is set"
if not os.environ.get("FEEDGEN_NO_SPEEDUPS"):
    try:
        from . import _speedups
    except ImportError as exc:  # pragma: no cover (built without a C compiler: the Python path)
        _speedups = None
        # Absent means setup.py could not compile it; present, a broken build to report.
        _without_c = (
            "the C serialiser was not built: feedgen was installed without a C compiler or "
            "Python's headers; the same bytes, rendered more slowly; reinstall with both at hand "
            "to build it"
            if importlib.util.find_spec(f"{__package__}._speedups") is None
            else f"the C serialiser did not load: {exc}"
        )

log = logging.getLogger(__name__)

PRODID = "-//Tesoro CRM//feedgen//EN"
FOOTER = b"END:VCALENDAR\r\n"


@dataclass(frozen=True)
class CalendarHeader:
    """The calendar's own lines. No METHOD: a feed is not an iTIP message, RFC 5546 allows no
    ATTENDEE in a PUBLISH event, and without METHOD RFC 5545 makes DTSTAMP the LAST-MODIFIED.
    No X-WR-TIMEZONE: every time is UTC or a date, and readers that apply the header to UTC
    times (x-wr-timezone) move those in a repeated hour by an hour."""

    name: str
    refresh_minutes: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean_text(self.name))

    def to_bytes(self) -> bytes:
        name = self.name
        ttl = fmt_duration(timedelta(minutes=self.refresh_minutes))
        # An empty name is left out: libical (Evolution) reports an empty value as an error.
        names = [text_line("NAME", name), text_line("X-WR-CALNAME", name)] if name else []
        return join_lines(
            [
                "BEGIN:VCALENDAR",
                "VERSION:2.0",
                f"PRODID:{escape_text(PRODID)}",
                "CALSCALE:GREGORIAN",
                *names,
                f"REFRESH-INTERVAL;VALUE=DURATION:{ttl}",
                f"X-PUBLISHED-TTL:{ttl}",
            ]
        )


# The lines of an event that every feed showing it shares (SUMMARY and UID aside): those between
# SUMMARY and UID, and those after UID. A team overview and its members' own feeds differ only in
# the title and UID of an event, so the rest is written once for all of them (``EventCache``).
EventBody = tuple[bytes, bytes]


def event_bytes(content: EventContent) -> bytes:
    """Serialise one VEVENT in icalendar's property order (canonical first, then by name)."""
    return compose_event(content.summary, content.uid, event_body(content), content.alarm_minutes)


def py_event_body(content: EventContent) -> EventBody:
    """The event's lines but BEGIN, SUMMARY, UID, the alarm and END, each ending in CRLF.

    ``event_body`` is the C version of this when it is built (``_speedups.c``), else this.

    Lines of fixed shape (dates, numbers, keywords) are short ASCII and never need folding; only
    the text lines go through ``text_prop``. Each part is encoded once, at the end.
    """
    stamp = fmt_datetime(content.stamp)
    dates = "\r\n".join(
        [dt_line("DTSTART", content.start), dt_line("DTEND", content.end), "DTSTAMP:" + stamp, ""]
    )
    lines = [f"SEQUENCE:{content.sequence}"]
    for person in content.attendees:
        lines.append(_address_line("ATTENDEE", person))
    lines.append(_category_line(content.category))
    if content.description is not None:
        lines.append(text_prop("DESCRIPTION:", content.description))
    lines.append("LAST-MODIFIED:" + stamp)
    if content.location is not None:
        lines.append(text_prop("LOCATION:", content.location))
    if content.organizer is not None:
        lines.append(_address_line("ORGANIZER", content.organizer))
    if content.priority is not None:
        lines.append(f"PRIORITY:{content.priority}")
    lines.append("TRANSP:TRANSPARENT" if content.transparent else "TRANSP:OPAQUE")
    if content.url is not None:
        lines.append(fold_line("URL:" + content.url))
    lines.append("")
    return dates.encode(), "\r\n".join(lines).encode()


def py_text_line(prefix: str, value: str) -> bytes:
    """A TEXT property line, escaped, folded and ended with CRLF (``text_line`` in C)."""
    return (text_prop(prefix, value) + "\r\n").encode()


if _speedups is not None:
    event_body: Callable[[EventContent], EventBody] = _speedups.event_body
    text_line_bytes: Callable[[str, str], bytes] = _speedups.text_line
    SERIALISER = f"C ({_speedups.__name__})"
else:  # pragma: no cover (no C compiler where feedgen was installed)
    event_body = py_event_body
    text_line_bytes = py_text_line
    SERIALISER = f"Python ({_without_c})"


def compose_event(summary: str, uid: str, body: EventBody, alarm_minutes: int | None) -> bytes:
    """A whole VEVENT from its title, UID and shared lines (the alarm repeats the title)."""
    parts = [
        b"BEGIN:VEVENT\r\n",
        text_line_bytes("SUMMARY:", summary),
        body[0],
        text_line_bytes("UID:", uid),
        body[1],
    ]
    if alarm_minutes is not None:
        trigger = fmt_duration(timedelta(minutes=-alarm_minutes))
        parts += [
            b"BEGIN:VALARM\r\nACTION:DISPLAY\r\n",
            text_line_bytes("DESCRIPTION:", summary),
            f"TRIGGER:{trigger}\r\nEND:VALARM\r\n".encode(),
        ]
    parts.append(b"END:VEVENT\r\n")
    return b"".join(parts)


@lru_cache(maxsize=64)
def _category_line(category: str) -> str:
    return text_prop("CATEGORIES:", category)


@lru_cache(maxsize=2_048)
def _address_line(name: str, person: Person) -> str:
    """An ATTENDEE or ORGANIZER line, folded. Cached: the same people recur on many events."""
    cn = cn_param(person.name or str(person.email))
    return fold_line(f"{name};{cn}:mailto:{person.email}")


@dataclass(frozen=True)
class LeftOut:
    """The first event a size budget left out: where a trimmed feed's kept events end."""

    future: bool
    key: tuple[datetime, str]
    size: int

    def to_text(self) -> str:
        # The UID goes last: it is the only part that could hold the separator.
        start = self.key[0].isoformat()
        return f"{'F' if self.future else 'P'}|{start}|{self.size}|{self.key[1]}"

    @classmethod
    def from_text(cls, text: str) -> LeftOut:
        region, start, size, uid = text.split("|", 3)
        return cls(region == "F", (datetime.fromisoformat(start), uid), int(size))


@dataclass
class RenderedFeed:
    data: bytes
    event_count: int
    trimmed: int = 0
    skipped: list[RenderError] = field(default_factory=list)
    # Trimmed feeds: the first events left out (``tail``) and the one after them (``left_out``).
    left_out: LeftOut | None = None
    tail: list[tuple[tuple[datetime, str], bytes]] = field(default_factory=list)

    @property
    def trimmed_state(self) -> str | None:
        """What a later incremental update needs to know of the events left out (None: none).

        The boundary on the first line (``-``: nothing beyond the tail), then the tail's events.
        """
        if self.left_out is None and not self.tail:
            return None
        boundary = self.left_out.to_text() if self.left_out else "-"
        return boundary + "\n" + b"".join(body for _, body in self.tail).decode()


# The bytes of a rendered event, or the reason it cannot be one.
_Rendered = bytes | RenderError
# An event to place in a feed: its sort key, and its activity (rendered on demand) or its bytes.
Item = tuple[tuple[datetime, str], "Activity | bytes"]
# A view's variant (``FeedView.variant``): its body variant's number, and its team.
Variant = tuple[int, int | None]


class EventCache:
    """Rendered events of one group of feeds, keyed by activity identity, version (with its
    counted SEQUENCE) and feed view.

    Two levels: an event's bytes per view variant, and its body (``EventBody``) per variant body,
    which the views of a team overview and of its members' own feeds share, so that only the
    title and UID are written again for each of them.

    When told how many of the group's feeds will ask for each event (``expect``), an entry lives
    until its last use, so memory holds only what a later feed still needs; otherwise the cache is
    bounded by clearing when full.
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[object, ...], _Rendered] = {}
        self._bodies: dict[tuple[object, ...], EventBody | RenderError] = {}
        self._uses: dict[tuple[int, Variant], int] | None = None
        self._body_uses: dict[tuple[int, int], int] | None = None
        self.hits = 0
        self.misses = 0
        self.bodies_reused = 0

    def clear(self) -> None:
        self._entries.clear()
        self._bodies.clear()
        self._uses = self._body_uses = None

    def expect(self, uses: dict[tuple[int, Variant], int]) -> None:
        """How many times each (activity id, view variant) will be asked for from now on."""
        self._uses = dict(uses)
        body_uses: dict[tuple[int, int], int] = {}
        for activity_id, (body, _team) in uses:
            key = (activity_id, body)
            body_uses[key] = body_uses.get(key, 0) + 1  # each variant renders its event once
        self._body_uses = body_uses

    def get(self, activity: Activity, view: FeedView) -> _Rendered:
        variant = view.variant
        key = (activity.id, activity.updated_at, activity.counted_sequence, variant)
        uses = self._uses
        if uses is None:
            found = self._entries.get(key)
            if found is not None:
                self.hits += 1
                return found
            found = self._miss(activity, view)
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = found
            return found
        left = uses.get((activity.id, variant), 0) - 1
        uses[activity.id, variant] = left
        found = self._entries.pop(key, None) if left <= 0 else self._entries.get(key)
        if found is None:
            found = self._miss(activity, view)
            if left > 0:
                self._entries[key] = found
        else:
            self.hits += 1
        return found

    def __len__(self) -> int:
        return len(self._entries) + len(self._bodies)

    def _miss(self, activity: Activity, view: FeedView) -> _Rendered:
        self.misses += 1
        if view.options.tasks_as_todo and activity.kind == ActivityKind.TASK:
            return _render_todo(activity, view)
        body_variant = view.variant[0]
        key = (activity.id, activity.updated_at, activity.counted_sequence, body_variant)
        keep = True
        if self._body_uses is None:
            body = self._bodies.get(key)
        else:
            use_key = (activity.id, body_variant)
            left = self._body_uses.get(use_key, 0) - 1
            self._body_uses[use_key] = left
            keep = left > 0
            body = self._bodies.get(key) if keep else self._bodies.pop(key, None)
        if isinstance(body, RenderError):
            return body
        if body is not None:
            self.bodies_reused += 1
            summary = event_summary(activity, view)
            uid = event_uid(activity.id, view)
            return compose_event(summary, uid, body, view.options.reminder_minutes)
        try:
            validate(activity)
            content = event_content(activity, view)
        except RenderError as exc:
            body = exc
            rendered: _Rendered = exc
        else:
            body = event_body(content)
            rendered = compose_event(content.summary, content.uid, body, content.alarm_minutes)
        if keep:
            if len(self._bodies) >= self.max_entries:
                self._bodies.clear()
            self._bodies[key] = body
        return rendered


def _render_todo(activity: Activity, view: FeedView) -> _Rendered:
    # VTODO is rare and only some clients show it: icalendar renders it.
    try:
        validate(activity)
        content = event_content(activity, view)
    except RenderError as exc:
        return exc
    return reference.todo_bytes(content, activity.status == Status.DONE)


def shown(activity: Activity, view: FeedView, window_start: datetime, window_end: datetime) -> bool:
    """Whether the feed's options and window let the activity in (before rendering)."""
    options = view.options
    if activity.kind not in options.kinds or activity.status == Status.CANCELLED:
        return False
    done_task = activity.kind == ActivityKind.TASK and activity.status == Status.DONE
    if done_task and not options.completed_tasks:
        return False
    anchor = activity.start if activity.start is not None else activity.due
    if anchor is None:
        return True  # let validation name it
    last = activity.end if activity.end is not None and activity.end > anchor else anchor
    return anchor < window_end and last >= window_start


def render_feed(
    header: CalendarHeader,
    view: FeedView,
    activities: Iterable[Activity],
    *,
    today: date,
    max_bytes: int,
    cache: EventCache,
    tail_bytes: int = 0,
) -> RenderedFeed:
    """Render the feed, keeping within ``max_bytes``: past events furthest from today go first,
    then the furthest future ones.

    Events are rendered nearest to today first and rendering stops where the budget ends, so a
    large team overview does not render the events it would drop (but ``tail_bytes`` of them,
    kept for incremental updates: see ``assemble``).
    """
    return assemble(
        header.to_bytes(),
        feed_items(activities, view, today),
        view,
        cache,
        today=today,
        max_bytes=max_bytes,
        tail_bytes=tail_bytes,
    )


def feed_items(activities: Iterable[Activity], view: FeedView, today: date) -> list[Item]:
    """The activities the feed shows, once each, with their sort keys (rendered later)."""
    window = view.options.window(today)
    items: list[Item] = []
    seen: set[int] = set()
    for activity in activities:
        if activity.id in seen or not shown(activity, view, window.start, window.end):
            continue
        seen.add(activity.id)
        items.append(((start_key(activity), event_uid(activity.id, view)), activity))
    return items


def assemble(
    head: bytes,
    items: list[Item],
    view: FeedView,
    cache: EventCache,
    *,
    today: date,
    max_bytes: int,
    stop_at: LeftOut | None = None,
    tail_bytes: int = 0,
) -> RenderedFeed:
    """The feed's bytes from its events, written in order of start and UID.

    Events fill the budget in this order: future ones from today on, then past ones back in time;
    filling stops at the first event that does not fit. Of the events left out, the first
    ``tail_bytes`` worth are returned as the feed's tail, and the next one as ``left_out``.
    ``stop_at`` (for incremental updates) is an event known to come after every one of ``items``
    in that order: it is the ``left_out`` of the result when filling gets to it.
    """
    midnight = datetime(today.year, today.month, today.day)
    future = sorted((item for item in items if item[0][0] >= midnight), key=_first)
    past = sorted((item for item in items if item[0][0] < midnight), key=_first, reverse=True)
    sequence = future + past
    budget = max_bytes - len(head) - len(FOOTER)
    skipped: list[RenderError] = []
    kept: list[bytes] = []
    kept_future = 0
    overflow: bytes | None = None
    position = 0
    for position, (_, source) in enumerate(sequence):  # noqa: B007 (position is used after)
        body = _body(source, view, cache, skipped)
        if body is None:
            continue
        if len(body) > budget:
            overflow = body
            break
        kept.append(body)
        budget -= len(body)
        kept_future += position < len(future)
    tail: list[tuple[tuple[datetime, str], bytes]] = []
    left_out = None
    if overflow is None:
        if stop_at is not None and stop_at.size > budget:
            left_out = stop_at
    else:
        left_out = _tail(
            sequence, len(future), position, overflow, tail, tail_bytes, view, cache, skipped
        )
        if left_out is None:
            left_out = stop_at
    events = kept[kept_future:][::-1] + kept[:kept_future]
    trimmed = len(sequence) - len(events) - len(skipped)
    data = b"".join([head, *events, FOOTER])
    return RenderedFeed(data, len(events), trimmed, skipped, left_out, tail)


def _first(item: Item) -> tuple[datetime, str]:
    return item[0]


def _body(
    source: Activity | bytes, view: FeedView, cache: EventCache, skipped: list[RenderError]
) -> bytes | None:
    if isinstance(source, bytes):
        return source
    rendered = cache.get(source, view)
    if isinstance(rendered, RenderError):
        skipped.append(rendered)
        return None
    return rendered


def _tail(
    sequence: list[Item],
    future_count: int,
    position: int,
    body: bytes,
    tail: list[tuple[tuple[datetime, str], bytes]],
    tail_bytes: int,
    view: FeedView,
    cache: EventCache,
    skipped: list[RenderError],
) -> LeftOut | None:
    """Collect the left-out events from ``position`` (whose bytes are ``body``) into ``tail``
    while it holds less than ``tail_bytes``; return the next one, or None when none is left."""
    size = 0
    while True:
        if size >= tail_bytes:
            return LeftOut(position < future_count, sequence[position][0], len(body))
        tail.append((sequence[position][0], body))
        size += len(body)
        following = None
        while following is None:
            position += 1
            if position >= len(sequence):
                return None
            following = _body(sequence[position][1], view, cache, skipped)
        body = following


def start_key(activity: Activity) -> datetime:
    """The event's start as a sort key, without rendering it (mirrors ``event_times``)."""
    value = activity.due if activity.kind == ActivityKind.TASK else activity.start
    if value is None:
        return datetime.min  # broken: rendering reports it
    if activity.all_day:
        return datetime(value.year, value.month, value.day)
    return value - DEADLINE_BLOCK if activity.kind == ActivityKind.TASK else value
