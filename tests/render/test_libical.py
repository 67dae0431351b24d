"""libical's check of every feed, and the shape of feed it accepts.

libical enforces RFC 5546's restrictions for the calendar's METHOD: a PUBLISH event may carry no
ATTENDEE and must carry an ORGANIZER. Feeds carry no METHOD, and keep their participants.
"""

from __future__ import annotations

import pytest

from feedgen.model import ActivityKind
from feedgen.render.header import CalendarHeader
from tests import libical
from tests.parsers import parse_all, parse_icalendar, parse_libical
from tests.render.factories import activity, render, unfolded_lines, view, week

pytestmark = pytest.mark.skipif(
    not libical.AVAILABLE and not libical.REQUIRED, reason=libical.PROBLEM
)


def with_method(data: bytes, method: str = "PUBLISH") -> bytes:
    """The feed as feedgen wrote it before: with a METHOD after CALSCALE."""
    return data.replace(
        b"CALSCALE:GREGORIAN\r\n", f"CALSCALE:GREGORIAN\r\nMETHOD:{method}\r\n".encode()
    )


def test_libical_is_loaded() -> None:
    # Reached in CI whatever happens (the skip above is lifted there): a missing library fails.
    assert libical.AVAILABLE, libical.PROBLEM


def test_a_feed_with_participants_passes_libicals_restriction_check() -> None:
    data = render(week()).data
    lines = unfolded_lines(data)
    assert not [line for line in lines if line.startswith("METHOD")]
    assert any(line.startswith("ATTENDEE;") for line in lines)
    assert any(line.startswith("ORGANIZER;") for line in lines)
    assert parse_libical(data) == parse_icalendar(data)


def test_a_feed_without_organizers_passes_libicals_restriction_check() -> None:
    data = render(week(), view(busy_only=True)).data
    assert b"\r\nORGANIZER" not in data
    assert parse_libical(data) == parse_icalendar(data)


@pytest.mark.parametrize("name", ["", "\x07"])
def test_a_calendar_without_a_name_leaves_the_name_out(name: str) -> None:
    data = render(week(), header=CalendarHeader(name, 60)).data
    assert b"NAME:" not in data
    assert parse_libical(data) == parse_icalendar(data)


def test_each_event_is_stamped_when_it_was_last_modified() -> None:
    # RFC 5545 3.8.7.2: DTSTAMP is LAST-MODIFIED when the calendar has no METHOD.
    lines = unfolded_lines(render(week()).data)
    stamps = [line.split(":", 1)[1] for line in lines if line.startswith("DTSTAMP:")]
    modified = [line.split(":", 1)[1] for line in lines if line.startswith("LAST-MODIFIED:")]
    assert stamps == modified and len(stamps) == len(week())


def test_the_check_fails_on_a_publish_feed_with_attendees() -> None:
    data = with_method(render(week()).data)
    with pytest.raises(AssertionError, match="ATTENDEE property. Expected 0 instances"):
        parse_libical(data)
    with pytest.raises(AssertionError, match="libical"):
        parse_all(data)


def test_the_check_fails_on_a_publish_event_without_organizer() -> None:
    data = with_method(render(week(), view(busy_only=True)).data)
    with pytest.raises(AssertionError, match="ORGANIZER property. Expected 1 instances"):
        parse_libical(data)


def test_the_check_fails_on_a_value_libical_cannot_parse() -> None:
    data = render([activity(1701)]).data
    broken = data.replace(b"\r\nDTSTART:", b"\r\nDTSTART:tomorrow\r\nX-OLD-DTSTART:", 1)
    with pytest.raises(AssertionError, match="DATE-TIME value in DTSTART"):
        parse_libical(broken)


def test_the_check_fails_on_a_line_that_is_no_property() -> None:
    data = render([activity(1702, ActivityKind.CALL)]).data
    broken = data.replace(b"\r\nTRANSP:OPAQUE", b"\r\nTRANSP OPAQUE", 1)
    with pytest.raises(AssertionError, match="could not find a property name"):
        parse_libical(broken)


def test_the_check_fails_on_a_feed_cut_short() -> None:
    data = render(week()).data
    with pytest.raises(AssertionError, match="cannot parse"):
        parse_libical(data[: len(data) // 2])
