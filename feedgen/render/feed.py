"""A whole feed: which events it shows, in which order, within its size budget.

A feed is its header, its events sorted by start and UID, and a footer; the same data and day give
the same bytes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from ..errors import RenderError
from ..model import Activity, ActivityKind, Status
from .content import DEADLINE_BLOCK, FeedView, event_uid
from .events import EventCache
from .header import FOOTER, CalendarHeader


@dataclass(frozen=True)
class LeftOut:
    """The first event a size budget left out: where a trimmed feed's kept events end."""

    future: bool
    key: tuple[datetime, str]
    size: int

    def to_text(self) -> str:
        # The UID goes last: it is the only part that could hold the separator.
        start = self.key[0].isoformat()
        return f"{'F' if self.future else 'P'}|{start}|{self.size}|{self.key[1]}"

    @classmethod
    def from_text(cls, text: str) -> LeftOut:
        region, start, size, uid = text.split("|", 3)
        return cls(region == "F", (datetime.fromisoformat(start), uid), int(size))


@dataclass
class RenderedFeed:
    data: bytes
    event_count: int
    trimmed: int = 0
    skipped: list[RenderError] = field(default_factory=list)
    # Trimmed feeds: the first events left out (``tail``) and the one after them (``left_out``).
    left_out: LeftOut | None = None
    tail: list[tuple[tuple[datetime, str], bytes]] = field(default_factory=list)

    @property
    def trimmed_state(self) -> str | None:
        """What a later incremental update needs to know of the events left out (None: none).

        The boundary on the first line (``-``: nothing beyond the tail), then the tail's events.
        """
        if self.left_out is None and not self.tail:
            return None
        boundary = self.left_out.to_text() if self.left_out else "-"
        return boundary + "\n" + b"".join(body for _, body in self.tail).decode()


# An event to place in a feed: its sort key, and its activity (rendered on demand) or its bytes.
Item = tuple[tuple[datetime, str], "Activity | bytes"]


def shown(activity: Activity, view: FeedView, window_start: datetime, window_end: datetime) -> bool:
    """Whether the feed's options and window let the activity in (before rendering)."""
    options = view.options
    if activity.kind not in options.kinds or activity.status == Status.CANCELLED:
        return False
    done_task = activity.kind == ActivityKind.TASK and activity.status == Status.DONE
    if done_task and not options.completed_tasks:
        return False
    anchor = activity.start if activity.start is not None else activity.due
    if anchor is None:
        return True  # let validation name it
    last = activity.end if activity.end is not None and activity.end > anchor else anchor
    return anchor < window_end and last >= window_start


def render_feed(
    header: CalendarHeader,
    view: FeedView,
    activities: Iterable[Activity],
    *,
    today: date,
    max_bytes: int,
    cache: EventCache,
    tail_bytes: int = 0,
) -> RenderedFeed:
    """Render the feed, keeping within ``max_bytes``: past events furthest from today go first,
    then the furthest future ones.

    Events are rendered nearest to today first and rendering stops where the budget ends, so a
    large team overview does not render the events it would drop (but ``tail_bytes`` of them,
    kept for incremental updates: see ``assemble``).
    """
    return assemble(
        header.to_bytes(),
        feed_items(activities, view, today),
        view,
        cache,
        today=today,
        max_bytes=max_bytes,
        tail_bytes=tail_bytes,
    )


def feed_items(activities: Iterable[Activity], view: FeedView, today: date) -> list[Item]:
    """The activities the feed shows, once each, with their sort keys (rendered later)."""
    window = view.options.window(today)
    items: list[Item] = []
    seen: set[int] = set()
    for activity in activities:
        if activity.id in seen or not shown(activity, view, window.start, window.end):
            continue
        seen.add(activity.id)
        items.append(((start_key(activity), event_uid(activity.id, view)), activity))
    return items


def assemble(
    head: bytes,
    items: list[Item],
    view: FeedView,
    cache: EventCache,
    *,
    today: date,
    max_bytes: int,
    stop_at: LeftOut | None = None,
    tail_bytes: int = 0,
) -> RenderedFeed:
    """The feed's bytes from its events, written in order of start and UID.

    Events fill the budget in this order: future ones from today on, then past ones back in time;
    filling stops at the first event that does not fit. Of the events left out, the first
    ``tail_bytes`` worth are returned as the feed's tail, and the next one as ``left_out``.
    ``stop_at`` (for incremental updates) is an event known to come after every one of ``items``
    in that order: it is the ``left_out`` of the result when filling gets to it.
    """
    midnight = datetime(today.year, today.month, today.day)
    future = sorted((item for item in items if item[0][0] >= midnight), key=_first)
    past = sorted((item for item in items if item[0][0] < midnight), key=_first, reverse=True)
    sequence = future + past
    budget = max_bytes - len(head) - len(FOOTER)
    skipped: list[RenderError] = []
    kept: list[bytes] = []
    kept_future = 0
    overflow: bytes | None = None
    position = 0
    for position, (_, source) in enumerate(sequence):  # noqa: B007 (position is used after)
        body = _body(source, view, cache, skipped)
        if body is None:
            continue
        if len(body) > budget:
            overflow = body
            break
        kept.append(body)
        budget -= len(body)
        kept_future += position < len(future)
    tail: list[tuple[tuple[datetime, str], bytes]] = []
    left_out = None
    if overflow is None:
        if stop_at is not None and stop_at.size > budget:
            left_out = stop_at
    else:
        left_out = _tail(
            sequence, len(future), position, overflow, tail, tail_bytes, view, cache, skipped
        )
        if left_out is None:
            left_out = stop_at
    events = kept[kept_future:][::-1] + kept[:kept_future]
    trimmed = len(sequence) - len(events) - len(skipped)
    data = b"".join([head, *events, FOOTER])
    return RenderedFeed(data, len(events), trimmed, skipped, left_out, tail)


def _first(item: Item) -> tuple[datetime, str]:
    return item[0]


def _body(
    source: Activity | bytes, view: FeedView, cache: EventCache, skipped: list[RenderError]
) -> bytes | None:
    if isinstance(source, bytes):
        return source
    rendered = cache.get(source, view)
    if isinstance(rendered, RenderError):
        skipped.append(rendered)
        return None
    return rendered


def _tail(
    sequence: list[Item],
    future_count: int,
    position: int,
    body: bytes,
    tail: list[tuple[tuple[datetime, str], bytes]],
    tail_bytes: int,
    view: FeedView,
    cache: EventCache,
    skipped: list[RenderError],
) -> LeftOut | None:
    """Collect the left-out events from ``position`` (whose bytes are ``body``) into ``tail``
    while it holds less than ``tail_bytes``; return the next one, or None when none is left."""
    size = 0
    while True:
        if size >= tail_bytes:
            return LeftOut(position < future_count, sequence[position][0], len(body))
        tail.append((sequence[position][0], body))
        size += len(body)
        following = None
        while following is None:
            position += 1
            if position >= len(sequence):
                return None
            following = _body(sequence[position][1], view, cache, skipped)
        body = following


def start_key(activity: Activity) -> datetime:
    """The event's start as a sort key, without rendering it (mirrors ``event_times``)."""
    value = activity.due if activity.kind == ActivityKind.TASK else activity.start
    if value is None:
        return datetime.min  # broken: rendering reports it
    if activity.all_day:
        return datetime(value.year, value.month, value.day)
    return value - DEADLINE_BLOCK if activity.kind == ActivityKind.TASK else value
