"""Plain values that flow from the CRM source through rendering: users, activities, feeds.

Times are naive ``datetime`` values in UTC throughout (the CRM contract stores UTC); dates of
all-day items are ``date`` values. Naive values avoid a tz conversion per row on the hot path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any


def utc_now() -> datetime:
    """The one clock of feedgen's own: naive UTC, whole seconds (stored and compared as such)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def exact_now() -> datetime:
    """The wall clock to the microsecond, naive UTC: when a batch's uploads were done and when a
    force build started, which whole seconds could not order (two builds within one second)."""
    return datetime.now(UTC).replace(tzinfo=None)


class ActivityKind(StrEnum):
    MEETING = "meeting"
    VIEWING = "viewing"
    CALL = "call"
    TASK = "task"
    NOTE = "note"


EXPORTABLE_KINDS: frozenset[ActivityKind] = frozenset(
    {ActivityKind.MEETING, ActivityKind.VIEWING, ActivityKind.CALL, ActivityKind.TASK}
)


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Status(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class SubjectKind(StrEnum):
    USER = "user"
    TEAM = "team"


@dataclass(frozen=True, slots=True)
class Participant:
    """A colleague (``user_id`` set) or an outside contact on an activity."""

    name: str
    email: str | None = None
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class Activity:
    """One CRM activity as read from the source, before any feed option is applied.

    ``start``/``end`` hold a meeting's, viewing's or call's time; ``due`` a task's deadline. For
    all-day items only the date part of these counts.
    """

    id: int
    kind: ActivityKind
    owner_id: int
    title: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    location: str = ""
    start: datetime | None = None
    end: datetime | None = None
    due: datetime | None = None
    all_day: bool = False
    priority: Priority | None = None
    status: Status = Status.OPEN
    participants: tuple[Participant, ...] = ()
    # The SEQUENCE feedgen's activity index counted for this version (``next_sequence``); 0 for
    # an activity the index does not hold yet.
    counted_sequence: int = 0

    @property
    def sequence(self) -> int:
        """The event's SEQUENCE: the count of versions feedgen observed, never below the whole
        seconds between creation and this version (``sequence_floor``)."""
        floor = sequence_floor(self.created_at, self.updated_at)
        return self.counted_sequence if self.counted_sequence > floor else floor


# The largest INTEGER of RFC 5545 (section 3.3.8), which SEQUENCE is.
MAX_SEQUENCE = 2**31 - 1


def sequence_floor(created_at: datetime, updated_at: datetime) -> int:
    """The whole seconds between ``created_at`` and ``updated_at``, each cut to whole seconds:
    SEQUENCE as feedgen derived it before it counted versions, so none published then goes down.
    """
    delta = updated_at - created_at
    # Whole seconds of the difference, plus one where cutting each stamp first would add it.
    carry = updated_at.microsecond < created_at.microsecond
    seconds = delta.days * 86_400 + delta.seconds + carry
    return min(MAX_SEQUENCE, max(0, seconds))


def next_sequence(counted: int | None, floor: int) -> int:
    """The SEQUENCE of a version change detection observed: one more than the last counted
    (None: the first version seen), never below ``floor``, never beyond RFC 5545's INTEGER."""
    if counted is None:
        return floor
    return min(MAX_SEQUENCE, max(floor, counted + 1))


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    email: str | None
    time_zone: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class Team:
    id: int
    name: str
    member_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Window:
    """The span of time a feed covers: [start, end) in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def around(cls, today: date, days_back: int, days_ahead: int) -> Window:
        # Whole days only, so a feed's bytes change at most once a day when nothing else does.
        midnight = datetime(today.year, today.month, today.day)
        return cls(midnight - timedelta(days=days_back), midnight + timedelta(days=days_ahead + 1))


DEFAULT_DAYS_BACK = 30
DEFAULT_DAYS_AHEAD = 365


@dataclass(frozen=True)
class FeedOptions:
    """What a feed shows. Stored as JSON with the feed; every field has a safe default."""

    kinds: frozenset[ActivityKind] = EXPORTABLE_KINDS
    days_back: int = DEFAULT_DAYS_BACK
    days_ahead: int = DEFAULT_DAYS_AHEAD
    completed_tasks: bool = True
    busy_only: bool = False
    show_emails: bool = True
    reminder_minutes: int | None = None
    tasks_as_todo: bool = False

    def __post_init__(self) -> None:
        kinds = frozenset(ActivityKind(k) for k in self.kinds)
        if ActivityKind.NOTE in kinds:
            raise ValueError("notes have no time and cannot be exported")
        if not kinds:
            raise ValueError("kinds: choose at least one of meeting, viewing, call, task")
        object.__setattr__(self, "kinds", kinds)
        for name in ("days_back", "days_ahead"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 3660:
                raise ValueError(f"{name}: a whole number of days from 0 to 3660, not {value!r}")
        if self.reminder_minutes is not None and not 0 <= self.reminder_minutes <= 40320:
            raise ValueError("reminder_minutes: from 0 to 40320 (four weeks), or none")

    def to_json(self) -> str:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["kinds"] = sorted(str(k) for k in self.kinds)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> FeedOptions:
        if not text:
            return cls()
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feed option(s): {', '.join(sorted(unknown))}")
        if "kinds" in data:
            data["kinds"] = frozenset(data["kinds"])
        return cls(**data)

    def with_changes(self, **changes: Any) -> FeedOptions:
        return replace(self, **changes)

    def window(self, today: date) -> Window:
        return Window.around(today, self.days_back, self.days_ahead)


@dataclass(frozen=True, slots=True)
class Feed:
    """A subscription: a token bound to a subject, with options."""

    id: int
    token: str
    subject_kind: SubjectKind
    subject_id: int
    options: FeedOptions = field(default_factory=FeedOptions)
    # The subscribe page's own token: random, so the page's key cannot be derived from the feed's.
    page_token: str = ""
    created_at: datetime | None = None
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
