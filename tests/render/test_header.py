"""A feed's calendar header and the view of its events: names, refresh hints, no METHOD, no zone."""

from __future__ import annotations

from feedgen.config import PublishConfig
from feedgen.model import Feed, FeedOptions, SubjectKind, Team
from feedgen.render.header import CalendarHeader, Looks
from tests.render.factories import ANNA, BEN, USERS

SALES = Team(5, "Sales Nord", (ANNA.id, BEN.id))
LOOKS = Looks(PublishConfig(uid_domain="crm.test", refresh_minutes=30))


def feed(kind: SubjectKind, subject_id: int) -> Feed:
    return Feed(1, "t" * 43, kind, subject_id, FeedOptions(), page_token="p" * 43)


def lines(header: CalendarHeader) -> list[str]:
    return header.to_bytes().decode().split("\r\n")


def test_a_users_feed_is_named_after_the_user() -> None:
    header, view = LOOKS.header_and_view(feed(SubjectKind.USER, ANNA.id), [ANNA.id], USERS, {})
    assert header.name == "Anna Schmidt · CRM"
    assert view.team_id is None and view.uid_domain == "crm.test"


def test_a_teams_feed_is_named_after_the_team_and_knows_its_members() -> None:
    header, view = LOOKS.header_and_view(
        feed(SubjectKind.TEAM, SALES.id), [ANNA.id, BEN.id], USERS, {SALES.id: SALES}
    )
    assert header.name == "Sales Nord · team · CRM"
    assert (view.team_id, view.team_member_ids) == (SALES.id, frozenset({ANNA.id, BEN.id}))


def test_a_feed_whose_user_left_the_crm_has_a_neutral_name() -> None:
    header, _ = LOOKS.header_and_view(feed(SubjectKind.USER, 999), [], USERS, {})
    assert header.name == "Removed user · CRM"


def test_the_header_names_the_calendar_and_its_refresh_interval() -> None:
    written = lines(CalendarHeader("Anna Schmidt · CRM", 30))
    assert written[:4] == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Tesoro CRM//feedgen//EN",
        "CALSCALE:GREGORIAN",
    ]
    assert "X-WR-CALNAME:Anna Schmidt · CRM" in written and "NAME:Anna Schmidt · CRM" in written
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT30M" in written and "X-PUBLISHED-TTL:PT30M" in written


def test_the_header_carries_no_method_and_no_time_zone() -> None:
    written = CalendarHeader("Anna Schmidt · CRM", 30).to_bytes()
    assert b"METHOD" not in written and b"TIMEZONE" not in written


def test_an_empty_name_writes_no_name_lines() -> None:
    assert not any(
        line.startswith(("NAME", "X-WR-CALNAME")) for line in lines(CalendarHeader("", 60))
    )


def test_control_characters_in_a_name_are_dropped() -> None:
    assert CalendarHeader("Anna\x00 Schmidt\x1b", 60).name == "Anna Schmidt"
