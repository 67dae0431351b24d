"""What an activity looks like as a calendar event: the decisions, independent of serialisation.

``event_content`` turns an Activity and the feed's view of it into an ``EventContent``; the fast
serialiser (``render``) and icalendar (``reference``) both write that same value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from ..errors import RenderError
from ..model import Activity, ActivityKind, FeedOptions, Priority, Status, User
from .ical import clean_text

# Calls and meetings without an end get a short default length instead of being dropped.
DEFAULT_LENGTH = {
    ActivityKind.MEETING: timedelta(minutes=60),
    ActivityKind.VIEWING: timedelta(minutes=60),
    ActivityKind.CALL: timedelta(minutes=15),
}
# A timed task deadline shows as a short block that ends at the deadline.
DEADLINE_BLOCK = timedelta(minutes=15)
LONGEST_EVENT = timedelta(days=366)
EARLIEST, LATEST = datetime(1900, 1, 1), datetime(2200, 1, 1)
BUSY = "Busy"

PRIORITY_VALUE = {Priority.HIGH: 1, Priority.NORMAL: 5, Priority.LOW: 9}
KIND_LABEL = {
    ActivityKind.MEETING: "Meeting",
    ActivityKind.VIEWING: "Viewing",
    ActivityKind.CALL: "Call",
    ActivityKind.TASK: "Task",
}
# Conservative: an address that could break out of a CAL-ADDRESS value is not written at all.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


# Anything shaped like an e-mail address in free text: hidden in feeds that hide addresses.
_EMAIL_IN_TEXT = re.compile(r"[^\s@<>()\[\]{},;:\"]+@[^\s@<>()\[\]{},;:\"]+")
HIDDEN_EMAIL = "[e-mail hidden]"
# A participant without a name, in a feed that hides addresses.
UNNAMED = "Guest"


class Person(NamedTuple):
    # A tuple: hashed in C, and the renderer's memo caches hash one per attendee.
    name: str
    email: str | None


# Not frozen: built for every event, and a frozen dataclass sets each field via object.__setattr__.
@dataclass(slots=True)
class EventContent:
    uid: str
    summary: str
    start: date | datetime
    end: date | datetime
    stamp: datetime
    sequence: int
    category: str
    transparent: bool
    description: str | None = None
    location: str | None = None
    organizer: Person | None = None
    attendees: tuple[Person, ...] = ()
    priority: int | None = None
    url: str | None = None
    alarm_minutes: int | None = None

    @property
    def sort_key(self) -> tuple[datetime, str]:
        start = self.start
        if not isinstance(start, datetime):
            start = datetime(start.year, start.month, start.day)
        return start, self.uid


@dataclass(frozen=True)
class FeedView:
    """Everything about a feed that shapes its events, besides the activities themselves."""

    options: FeedOptions
    uid_domain: str
    activity_url: str
    users: Mapping[int, User]
    # Team overview feeds: whose activities these are, named in each event's title.
    team_id: int | None = None
    team_member_ids: frozenset[int] = frozenset()
    # What, besides the activity, the rendered bytes depend on (a render cache key part): what
    # shapes every line but SUMMARY and UID (the options, UID domain and activity URL, as a number
    # from ``_BODY_VARIANTS``), and the team. Two ints: the cache hashes and compares the variant
    # for every event, and options are dataclasses, which hash and compare in Python.
    variant: tuple[int, int | None] = field(init=False, repr=False, compare=False)
    # The activity URL before and after ``{id}`` when that is its only field (None: another
    # template, formatted): joining the parts takes a third of ``str.format``'s time.
    url_parts: tuple[str, str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        body = (self.options, self.uid_domain, self.activity_url)
        number = _BODY_VARIANTS.setdefault(body, len(_BODY_VARIANTS))
        object.__setattr__(self, "variant", (number, self.team_id))
        before, found, after = self.activity_url.partition("{id}")
        plain = found and not any(brace in before + after for brace in "{}")
        object.__setattr__(self, "url_parts", (before, after) if plain else None)


# Every distinct body variant this process has seen, numbered. Never cleared (a number must not
# come back with another meaning while a cache holds it); it grows with the distinct option sets
# of feeds, a handful in practice.
_BODY_VARIANTS: dict[tuple[FeedOptions, str, str], int] = {}


def safe_email(value: str | None) -> str | None:
    if value and len(value) <= 254 and _EMAIL.fullmatch(value.strip()):
        return value.strip()
    return None


def validate(activity: Activity) -> None:
    """Raise RenderError when the activity's times cannot make a sensible event."""
    if activity.kind == ActivityKind.TASK:
        if activity.due is None:
            raise RenderError(activity.id, "task has no deadline")
        _check_range(activity.id, activity.due)
        return
    if activity.start is None:
        raise RenderError(activity.id, f"{activity.kind} has no start time")
    _check_range(activity.id, activity.start)
    if activity.end is not None:
        _check_range(activity.id, activity.end)
        if activity.end < activity.start:
            raise RenderError(activity.id, "ends before it starts")
        if activity.end - activity.start > LONGEST_EVENT:
            raise RenderError(activity.id, "lasts more than a year")


def _check_range(activity_id: int, value: datetime) -> None:
    if not EARLIEST <= value < LATEST:
        raise RenderError(activity_id, f"date {value:%Y-%m-%d} is out of range")


def event_times(activity: Activity) -> tuple[date | datetime, date | datetime]:
    """Start and (exclusive) end: UTC date-times, or dates for all-day items."""
    if activity.kind == ActivityKind.TASK:
        due = activity.due
        assert due is not None
        if activity.all_day:
            return due.date(), due.date() + timedelta(days=1)
        return due - DEADLINE_BLOCK, due
    start = activity.start
    assert start is not None
    if activity.all_day:
        # The CRM stores an all-day item's last day; iCalendar wants the day after it.
        last = activity.end.date() if activity.end is not None else start.date()
        return start.date(), max(last, start.date()) + timedelta(days=1)
    end = activity.end if activity.end is not None else start + DEFAULT_LENGTH[activity.kind]
    return start, end


def event_uid(activity_id: int, view: FeedView) -> str:
    """The event's UID: from the activity's id alone, never from anything editable."""
    if view.team_id is not None:
        # A distinct UID keeps the team overview and a member's own feed apart in clients that
        # merge events by UID across calendars.
        return f"activity-{activity_id}.team-{view.team_id}@{view.uid_domain}"
    return f"activity-{activity_id}@{view.uid_domain}"


def event_content(activity: Activity, view: FeedView) -> EventContent:
    """The event for ``activity`` as ``view`` shows it. Call ``validate`` first.

    One pass, without helpers on the way: it runs for every activity of a rebuild (600,000 at
    10,000 users), where each call and keyword argument is a measurable share of its time.
    """
    options = view.options
    kind = activity.kind
    start, end = event_times(activity)
    uid = event_uid(activity.id, view)
    summary = event_summary(activity, view)
    transparent = kind == ActivityKind.TASK
    if options.busy_only:
        return EventContent(
            uid,
            summary,
            start,
            end,
            activity.updated_at,
            activity.sequence,
            BUSY,
            transparent,
            alarm_minutes=options.reminder_minutes,
        )
    show_emails = options.show_emails
    owner = view.users.get(activity.owner_id)
    url_parts = view.url_parts
    url = (
        url_parts[0] + str(activity.id) + url_parts[1]
        if url_parts is not None
        else view.activity_url.format(id=activity.id)
    )
    # The participants once: their addresses (ATTENDEE) and their names (the description).
    attendees: list[Person] = []
    names: list[str] = []
    for participant in activity.participants:
        name, email = participant.name, participant.email
        if show_emails:
            # Colleagues and outside contacts through caches of their own: thousands of
            # contacts in one cache pushed the colleagues out of it, and every lookup missed.
            person = _contact(name, email) if participant.user_id is None else _person(name, email)
            if person is not None:
                attendees.append(person)
        if name:
            names.append(clean_name(name))
        else:
            names.append(clean_name(email) if show_emails and email else UNNAMED)
    description = []
    text = _shown_text(activity.description, show_emails).strip()
    if text:
        description.append(text)
    if names:
        description.append("Participants: " + ", ".join(names))
    if owner is not None:
        description.append("Owner: " + clean_name(owner.name))
    description.append("Edit in the CRM: " + url)
    # libical rejects a LOCATION of whitespace: a blank one is left out.
    shown_location = _shown_text(activity.location, show_emails)
    location = shown_location if shown_location.strip() else None
    priority = activity.priority
    return EventContent(
        uid,
        summary,
        start,
        end,
        activity.updated_at,
        activity.sequence,
        KIND_LABEL[kind],
        transparent,
        "\n\n".join(description),
        location,
        _person(owner.name, owner.email) if show_emails and owner is not None else None,
        tuple(attendees),
        PRIORITY_VALUE.get(priority) if priority else None,
        url,
        options.reminder_minutes,
    )


def _new_person(name: str, email: str | None) -> Person | None:
    """A person with a writable address, or None."""
    address = safe_email(email)
    return Person(clean_text(name), address) if address else None


# Cached: the same colleagues (organizers and attendees) recur all day, and a client's contacts
# on each of their viewings. About 360 bytes an entry, its strings included: 6 MB at most for
# the contacts.
_person = lru_cache(maxsize=2_048)(_new_person)
_contact = lru_cache(maxsize=16_384)(_new_person)


@lru_cache(maxsize=2_048)
def clean_name(name: str) -> str:
    """``clean_text`` of a person's name. Cached: the same colleagues recur on many events."""
    return clean_text(name)


def event_summary(activity: Activity, view: FeedView) -> str:
    """The event's title: with the kind, and in team overviews the members it concerns."""
    if view.options.busy_only:
        return BUSY
    title = _shown_text(activity.title, view.options.show_emails).strip() or "(no title)"
    kind = activity.kind
    if kind == ActivityKind.TASK:
        label = "Task"
        if activity.priority in (Priority.HIGH, Priority.LOW):
            label += f" ({activity.priority} priority)"
        if activity.status == Status.DONE:
            label = "✓ " + label
        title = f"{label} · {title}"
    elif kind != ActivityKind.MEETING:
        title = f"{KIND_LABEL[kind]} · {title}"
    if view.team_id is not None:
        title = f"{_team_members_named(activity, view)}: {title}"
    return title


def _team_members_named(activity: Activity, view: FeedView) -> str:
    ids = [activity.owner_id] + [p.user_id for p in activity.participants if p.user_id]
    names: list[str] = []
    for user_id in ids:
        user = view.users.get(user_id)
        if user_id in view.team_member_ids and user is not None:
            name = clean_name(user.name)
            if name not in names:
                names.append(name)
    return ", ".join(names) or "?"


def _shown_text(text: str, show_emails: bool) -> str:
    """Free text as the feed shows it: without e-mail addresses where it hides them."""
    cleaned = clean_text(text)
    return cleaned if show_emails else _EMAIL_IN_TEXT.sub(HIDDEN_EMAIL, cleaned)
