"""A feed's calendar header and footer, and the view its events are rendered with: how a feed
looks besides its events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from ..config import PublishConfig
from ..model import Feed, SubjectKind, Team, User
from .content import FeedView
from .ical import clean_text, escape_text, fmt_duration, join_lines, text_line

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


# What a feed is named after when its user or team is no longer in the CRM: the feed stays (an
# empty calendar, nothing personal), so a row restored by the CRM brings it back.
REMOVED_USER = "Removed user"


REMOVED_TEAM = "Removed team"


class Looks:
    """Headers and views of feeds."""

    def __init__(self, publish: PublishConfig) -> None:
        self.publish = publish
        self.activity_url = publish.crm_base_url + publish.activity_path

    def header_and_view(
        self, feed: Feed, audience: list[int], users: Mapping[int, User], teams: Mapping[int, Team]
    ) -> tuple[CalendarHeader, FeedView]:
        """A user's feed is named after the user, a team's after the team. Neither carries a time
        zone: every time is UTC or a date (see ``CalendarHeader``)."""
        publish = self.publish
        if feed.subject_kind == SubjectKind.USER:
            user = users.get(feed.subject_id)
            name = publish.calendar_name.format(name=user.name if user else REMOVED_USER)
            view = FeedView(feed.options, publish.uid_domain, self.activity_url, users)
        else:
            team = teams.get(feed.subject_id)
            name = publish.team_calendar_name.format(name=team.name if team else REMOVED_TEAM)
            view = FeedView(
                feed.options,
                publish.uid_domain,
                self.activity_url,
                users,
                team_id=feed.subject_id,
                team_member_ids=frozenset(audience),
            )
        return CalendarHeader(name, publish.refresh_minutes), view
