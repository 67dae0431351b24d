"""Patching a feed's bytes: its last published bytes, with the changed events replaced, give the
same bytes as a full build. Bytes in, bytes out (``build.incremental`` decides which feeds).

A team feed holds every member's activities, twenty-five users' worth for a team of twenty-five:
rebuilding it in full because one member moved one meeting would cost as much as rebuilding those
users' own feeds; and a user's own feed would be rebuilt from all their activities for one. The
events are already in the last published object, in order of start and UID, and an event's bytes
depend only on its activity, the feed's view and (for a team) its members, all unchanged while
the feed is patchable (see ``detect.mark_dirty`` and ``build``). So the update reads the old
object, drops the events of the changed activities, renders those activities again, and lays the
events out with the same rule as a full build (``render.assemble``).

A trimmed feed also needs to know what lies beyond its last kept event: the build records the
first ``TAIL_BYTES`` of the events the budget left out, and the key and size of the one after
them (``RenderedFeed.trimmed_state``). When the update would reach beyond that, or that event
itself changed, the feed is built in full instead.
"""

from __future__ import annotations

from datetime import date, datetime

from .content import FeedView
from .events import EventCache
from .feed import Item, LeftOut, RenderedFeed, assemble
from .header import FOOTER

BEGIN = b"BEGIN:VEVENT\r\n"
# How much of what a trimmed feed leaves out is kept for its next incremental updates: enough
# that deleting a few events still patches, small enough for a database column.
TAIL_BYTES = 16_384


def parse_events(body: bytes) -> list[tuple[tuple[datetime, str], int, bytes]] | None:
    """Split a feed's events into (sort key, activity id, bytes); None when one is not ours."""
    if not body:
        return []
    # Split at line starts only: a title may hold "BEGIN:VEVENT" (escaped, within its line). A CRLF
    # in feedgen's output always ends a line: text escapes its line breaks, folds add a space.
    parts = (b"\r\n" + body).split(b"\r\n" + BEGIN)
    if parts[0] or not body.endswith(b"\r\n"):
        return None
    events = []
    starts: Starts = {}
    last = len(parts) - 1
    for i, part in enumerate(parts[1:], 1):
        block = BEGIN + part if i == last else BEGIN + part + b"\r\n"
        parsed = _key(block, starts)
        if parsed is None:
            return None
        events.append((parsed[0], parsed[1], block))
    return events


_DTSTART = b"\r\nDTSTART"
_UID = b"\r\nUID:"
_DATE_ONLY = b";VALUE=DATE:"
# An event's start as feedgen writes it: a UTC date-time (16 octets) or a date (8).
Starts = dict[bytes, datetime | None]


def _key(block: bytes, starts: Starts) -> tuple[tuple[datetime, str], int] | None:
    """The sort key and activity id of an event feedgen wrote, or None when it is not one.

    DTSTART comes right after the title and UID a few lines later; both are ASCII feedgen wrote
    unescaped. ``find`` meets neither inside a title or description: text escapes its line
    breaks, and a folded line's continuation starts with a space. ``starts`` remembers the
    starts already parsed: a team's events share their days and times.
    """
    at = block.find(_DTSTART)
    if at < 0:
        return None
    at += len(_DTSTART)
    if block.startswith(b":", at):
        at += 1
        raw = block[at : at + 16]
    elif block.startswith(_DATE_ONLY, at):
        at += len(_DATE_ONLY)
        raw = block[at : at + 8]
    else:
        return None
    if raw in starts:
        moment = starts[raw]
    else:
        moment = starts[raw] = _start(raw)
    if moment is None or not block.startswith(b"\r\n", at + len(raw)):
        return None
    found = block.find(_UID, at)
    if found < 0:
        return None
    found += len(_UID)
    end = block.find(b"\r\n", found)
    while block[end + 2 : end + 3] == b" ":  # a folded UID continues
        end = block.find(b"\r\n", end + 2)
    uid = block[found:end].replace(b"\r\n ", b"").decode()
    activity_id = _activity_id(uid)
    if activity_id is None:
        return None
    return (moment, uid), activity_id


def _start(raw: bytes) -> datetime | None:
    """``YYYYMMDD`` or ``YYYYMMDDTHHMMSSZ`` (by slicing, not strptime), or None."""
    try:
        if len(raw) == 8 and raw.isdigit():
            return datetime(int(raw[0:4]), int(raw[4:6]), int(raw[6:8]))
        if len(raw) == 16 and raw[8:9] == b"T" and raw[15:16] == b"Z" and raw[9:15].isdigit():
            return datetime(
                int(raw[0:4]),
                int(raw[4:6]),
                int(raw[6:8]),
                int(raw[9:11]),
                int(raw[11:13]),
                int(raw[13:15]),
            )
    except ValueError:
        pass
    return None


def patch_feed(
    previous: bytes,
    head: bytes,
    changed: set[int],
    fresh: list[Item],
    view: FeedView,
    cache: EventCache,
    *,
    today: date,
    max_bytes: int,
    trimmed_state: str | None,
) -> RenderedFeed | None:
    """The feed ``previous`` with the events of ``changed`` activities replaced by ``fresh``.

    ``fresh`` holds the changed activities the feed shows now; ``trimmed_state`` is what the last
    build recorded of the events it left out (``RenderedFeed.trimmed_state``). Returns None when
    the result could differ from a full build: another header, bytes that are not an event list
    feedgen wrote, or a trimmed feed that would now reach beyond what was recorded.
    """
    if not previous.startswith(head) or not previous.endswith(FOOTER):
        return None
    events = parse_events(previous[len(head) : len(previous) - len(FOOTER)])
    boundary: LeftOut | None = None
    if trimmed_state is not None:
        first, _, rest = trimmed_state.partition("\n")
        boundary = None if first == "-" else LeftOut.from_text(first)
        tail = parse_events(rest.encode())
        if events is None or tail is None:
            return None
        events += tail
    if events is None:
        return None
    items: list[Item] = [(key, data) for key, aid, data in events if aid not in changed]
    items += fresh
    if boundary is not None:
        if _activity_id(boundary.key[1]) in changed:
            return None
        items = [item for item in items if _before(item[0], boundary, today)]
    rendered = assemble(
        head,
        items,
        view,
        cache,
        today=today,
        max_bytes=max_bytes,
        stop_at=boundary,
        tail_bytes=TAIL_BYTES,
    )
    if boundary is not None and rendered.left_out is None and not rendered.tail:
        return None  # everything fits up to the boundary, which would fit too: build in full
    return rendered


def _before(key: tuple[datetime, str], boundary: LeftOut, today: date) -> bool:
    """Whether ``key`` comes before ``boundary`` in the order events fill a feed: future events
    from today on, then past events back in time."""
    midnight = datetime(today.year, today.month, today.day)
    future = key[0] >= midnight
    if future != boundary.future:
        return future
    return key < boundary.key if future else key > boundary.key


def _activity_id(uid: str) -> int | None:
    """The activity id in a UID feedgen wrote (``activity-<id>[.team-<id>]@<domain>``)."""
    if not uid.startswith("activity-"):
        return None
    try:
        return int(uid[len("activity-") :].split(".", 1)[0].split("@", 1)[0])
    except ValueError:
        return None
