"""How a feed looks besides its events: its calendar header (name, time zone, refresh hint) and
the view its events are rendered with."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import PublishConfig
from .content import FeedView
from .model import Feed, SubjectKind, Team, User
from .render import CalendarHeader

log = logging.getLogger(__name__)

# What a feed is named after when its user or team is no longer in the CRM: the feed stays (an
# empty calendar, nothing personal), so a row restored by the CRM brings it back.
REMOVED_USER = "Removed user"
REMOVED_TEAM = "Removed team"


class Looks:
    """Headers and views of feeds; remembers which time zones it has checked."""

    def __init__(self, publish: PublishConfig) -> None:
        self.publish = publish
        self.activity_url = publish.crm_base_url + publish.activity_path
        self._zones: dict[str, str] = {}

    def header_and_view(
        self, feed: Feed, audience: list[int], users: Mapping[int, User], teams: Mapping[int, Team]
    ) -> tuple[CalendarHeader, FeedView]:
        """A user's feed is named after the user and in their zone; a team's is named after the
        team and in its members' most common zone."""
        publish = self.publish
        if feed.subject_kind == SubjectKind.USER:
            user = users.get(feed.subject_id)
            name = publish.calendar_name.format(name=user.name if user else REMOVED_USER)
            zone = self.zone(user.time_zone if user else "UTC", feed.subject_id)
            view = FeedView(feed.options, publish.uid_domain, self.activity_url, users)
        else:
            team = teams.get(feed.subject_id)
            name = publish.team_calendar_name.format(name=team.name if team else REMOVED_TEAM)
            member_zones = Counter(users[m].time_zone for m in audience)
            zone = self.zone(member_zones.most_common(1)[0][0] if member_zones else "UTC", None)
            view = FeedView(
                feed.options,
                publish.uid_domain,
                self.activity_url,
                users,
                team_id=feed.subject_id,
                team_member_ids=frozenset(audience),
            )
        return CalendarHeader(name, zone, publish.refresh_minutes), view

    def zone(self, name: str, user_id: int | None) -> str:
        """``name`` when it is a known IANA zone, else UTC (with a warning, once per zone)."""
        if name not in self._zones:
            try:
                ZoneInfo(name)
                self._zones[name] = name
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("unknown time zone %r (user %s): using UTC", name, user_id)
                self._zones[name] = "UTC"
        return self._zones[name]
