"""How a feed looks besides its events: its calendar header (name, refresh hint) and the view
its events are rendered with."""

from __future__ import annotations

from collections.abc import Mapping

from .config import PublishConfig
from .content import FeedView
from .model import Feed, SubjectKind, Team, User
from .render import CalendarHeader

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
