"""Read a feed back with five independent parsers and check they agree with each other.

icalendar, ical (Home Assistant's), vobject, libical (Evolution's, with its RFC 5546 restriction
check) and recurring-ical-events (which applies X-WR-TIMEZONE as clients of Google's feeds do).
Where libical cannot be loaded, feeds go unchecked by it and the run says so at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import icalendar
import recurring_ical_events
import vobject
from ical.calendar_stream import IcsCalendarStream

from tests import libical

# How many feeds parse_all read without libical (reported by tests/conftest.py).
unchecked_by_libical: list[int] = [0]


@dataclass(frozen=True)
class ParsedEvent:
    uid: str
    summary: str
    start: date | datetime
    end: date | datetime


def _norm(value: date | datetime) -> date | datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise AssertionError(f"floating time {value} in a feed")
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _events(components: Iterable[icalendar.cal.Component]) -> dict[str, ParsedEvent]:
    events = {}
    for event in components:
        uid = str(event["UID"])
        assert uid not in events, f"UID {uid} twice"
        events[uid] = ParsedEvent(
            uid,
            str(event["SUMMARY"]),
            _norm(event.decoded("DTSTART")),
            _norm(event.decoded("DTEND")),
        )
    return events


def parse_icalendar(data: bytes) -> dict[str, ParsedEvent]:
    return _events(icalendar.Calendar.from_ical(data).walk("VEVENT"))


def parse_ical(data: bytes) -> dict[str, ParsedEvent]:
    """Home Assistant's strict parser (pydantic models of RFC 5545)."""
    calendar = IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    events = {}
    for event in calendar.events:
        assert event.uid is not None and event.uid not in events
        start, end = event.dtstart, event.dtend
        assert start is not None and end is not None  # feedgen writes both on every event
        events[event.uid] = ParsedEvent(event.uid, event.summary or "", _norm(start), _norm(end))
    return events


def parse_vobject(data: bytes) -> dict[str, ParsedEvent]:
    calendar = vobject.readOne(data.decode("utf-8"))
    events = {}
    for event in getattr(calendar, "vevent_list", []):
        uid = event.uid.value
        assert uid not in events
        events[uid] = ParsedEvent(
            uid, event.summary.value, _norm(event.dtstart.value), _norm(event.dtend.value)
        )
    return events


def parse_libical(data: bytes) -> dict[str, ParsedEvent]:
    """libical, failing on any error it reports and on a failed iTIP restriction check."""
    return {uid: ParsedEvent(*values) for uid, values in libical.read(data).items()}


def parse_recurring(data: bytes) -> dict[str, ParsedEvent]:
    """recurring-ical-events, which moves UTC times into the X-WR-TIMEZONE zone when one is set."""
    return _recurring(icalendar.Calendar.from_ical(data))


def _recurring(calendar: icalendar.Calendar) -> dict[str, ParsedEvent]:
    # It builds new components from the calendar (through x-wr-timezone) and leaves it as it was.
    return _events(recurring_ical_events.of(calendar, components=["VEVENT"]).all())


def parse_all(data: bytes) -> dict[str, ParsedEvent]:
    """Parse with all five; they must agree on every event. Returns the events by UID."""
    calendar = icalendar.Calendar.from_ical(data)
    first = _events(calendar.walk("VEVENT"))
    assert parse_ical(data) == first, "the ical package reads the feed differently"
    assert parse_vobject(data) == first, "vobject reads the feed differently"
    assert _recurring(calendar) == first, "recurring-ical-events reads the feed differently"
    if libical.AVAILABLE:
        assert parse_libical(data) == first, "libical reads the feed differently"
    else:
        unchecked_by_libical[0] += 1
    return first
