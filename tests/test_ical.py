"""The fast serialiser against icalendar, byte for byte, on generated events."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar.parser.string import _foldline

from feedgen import reference
from feedgen.content import EventContent, Person
from feedgen.ical import fmt_duration, fold
from feedgen.render import CalendarHeader, event_bytes

# Plain ASCII with the characters that escaping adds or folding must not split after (``\`` and
# ``^``): the folding fast path for ASCII lines, and its fallback when an escape ends a chunk.
ascii_text = st.text(alphabet='ab ,;:\\^\n"', max_size=400)
any_text = st.one_of(st.text(min_size=0, max_size=300), ascii_text)
names = st.text(min_size=1, max_size=80)
emails = st.from_regex(r"\A[a-z0-9._%+-]{1,20}@[a-z0-9-]{1,15}\.[a-z]{2,6}\Z")
instants = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(microsecond=0)
)
days = st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 1, 1))
people = st.builds(Person, names, emails)


@st.composite
def contents(draw: st.DrawFn) -> EventContent:
    all_day = draw(st.booleans())
    start: date | datetime
    if all_day:
        start = draw(days)
        end: date | datetime = start + timedelta(days=draw(st.integers(1, 30)))
    else:
        start = draw(instants)
        end = start + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    return EventContent(
        uid=draw(st.from_regex(r"\Aactivity-[0-9]{1,9}(\.team-[0-9]{1,4})?@[a-z.]{1,20}\Z")),
        summary=draw(any_text),
        start=start,
        end=end,
        stamp=draw(instants),
        sequence=draw(st.integers(0, 2**31 - 1)),
        category=draw(st.sampled_from(["Meeting", "Viewing", "Call", "Task", "Busy"])),
        transparent=draw(st.booleans()),
        description=draw(st.none() | any_text),
        location=draw(st.none() | any_text),
        organizer=draw(st.none() | people),
        attendees=tuple(draw(st.lists(people, max_size=4))),
        priority=draw(st.none() | st.sampled_from([1, 5, 9])),
        url=draw(st.none() | st.from_regex(r"\Ahttps://crm\.example\.com/a/[0-9]{1,9}\Z")),
        alarm_minutes=draw(st.none() | st.integers(0, 40320)),
    )


@settings(max_examples=400, deadline=None)
@given(contents())
def test_event_bytes_equal_icalendar(content: EventContent) -> None:
    assert event_bytes(content) == reference.event_component(content).to_ical()


@settings(max_examples=200, deadline=None)
@given(names, st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"]), st.integers(5, 10080))
def test_calendar_header_equals_icalendar(name: str, zone: str, minutes: int) -> None:
    header = CalendarHeader(name, zone, minutes)
    theirs = reference.calendar_component(header.name, zone, timedelta(minutes=minutes))
    assert header.to_bytes() + b"END:VCALENDAR\r\n" == theirs.to_ical()


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=600), ascii_text))
def test_fold_equals_icalendar(line: str) -> None:
    line = line.replace("\r", "").replace("\n", "")
    assert fold(line) == _foldline(line).encode()


@pytest.mark.parametrize("escape", ["\\", "^"])
@pytest.mark.parametrize("at", [72, 73, 74, 147])
def test_an_ascii_fold_never_ends_a_line_in_an_escape_character(escape: str, at: int) -> None:
    line = "x" * at + escape + "y" * 200
    assert fold(line) == _foldline(line).encode()


@given(st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30)))
def test_duration_equals_icalendar(value: timedelta) -> None:
    from icalendar import vDuration

    value = timedelta(seconds=int(value.total_seconds()))
    assert fmt_duration(value).encode() == vDuration(value).to_ical()
