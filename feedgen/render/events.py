"""One event's bytes, and the cache that renders each activity once per run and view.

The fast serialiser writes the same bytes as icalendar would (tests/render/reference.py holds it to
that); its hot path is also written in C (``feedgen._speedups``), used when built."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from types import ModuleType

from ..errors import RenderError
from ..model import Activity, ActivityKind, Status
from .content import (
    EventContent,
    FeedView,
    Person,
    event_content,
    event_summary,
    event_uid,
    validate,
)
from .ical import cn_param, dt_line, fmt_datetime, fmt_duration, fold_line, text_prop
from .todo import todo_bytes

# The C serialiser, when pip could compile it; FEEDGEN_NO_SPEEDUPS=1 turns it off (to compare).
_speedups: ModuleType | None = None


_without_c = "FEEDGEN_NO_SPEEDUPS is set"


if not os.environ.get("FEEDGEN_NO_SPEEDUPS"):
    try:
        from .. import _speedups
    except ImportError as exc:  # pragma: no cover (built without a C compiler: the Python path)
        _speedups = None
        # Absent means setup.py could not compile it; present, a broken build to report.
        _without_c = (
            "the C serialiser was not built: feedgen was installed without a C compiler or "
            "Python's headers; the same bytes, rendered more slowly; reinstall with both at hand "
            "to build it"
            if importlib.util.find_spec("feedgen._speedups") is None
            else f"the C serialiser did not load: {exc}"
        )


log = logging.getLogger(__name__)


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


# The bytes of a rendered event, or the reason it cannot be one.
_Rendered = bytes | RenderError


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
    return todo_bytes(content, activity.status == Status.DONE)
