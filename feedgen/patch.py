"""Incremental updates of team overview feeds: the last published bytes, with the changed events
replaced, give the same bytes as a full build.

A team feed holds every member's activities, twenty-five users' worth for a team of twenty-five:
rebuilding it in full because one member moved one meeting would cost as much as rebuilding those
users' own feeds. Its events are already in the last published object, in order of start and UID,
and an event's bytes depend only on its activity, the feed's view and the team's members (all
unchanged while the feed is patchable, see ``build``). So the update reads the old object, drops
the events of the changed activities, renders those activities again, and lays the events out
with the same rule as a full build (``render.assemble``).

A trimmed feed also needs to know what lies beyond its last kept event: the build records the
first ``TAIL_BYTES`` of the events the budget left out, and the key and size of the one after
them (``RenderedFeed.trimmed_state``). When the update would reach beyond that, or that event
itself changed, the feed is built in full instead.
"""

from __future__ import annotations

from datetime import date, datetime

from .content import FeedView
from .render import FOOTER, EventCache, Item, LeftOut, RenderedFeed, assemble

BEGIN = b"BEGIN:VEVENT\r\n"
# How much of what a trimmed team feed leaves out is kept for its next incremental updates: enough
# that deleting a few events still patches, small enough for a database column.
TAIL_BYTES = 16_384
_UID = b"\r\nUID:"
_DTSTART = b"\r\nDTSTART"


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
    last = len(parts) - 1
    for i, part in enumerate(parts[1:], 1):
        block = BEGIN + part if i == last else BEGIN + part + b"\r\n"
        parsed = _key(block)
        if parsed is None:
            return None
        events.append((parsed[0], parsed[1], block))
    return events


def _key(block: bytes) -> tuple[tuple[datetime, str], int] | None:
    uid = _line_value(block, _UID)
    start = _line_value(block, _DTSTART)
    if uid is None or start is None:
        return None
    activity_id = _activity_id(uid)
    if activity_id is None:
        return None
    try:
        value = start.rsplit(":", 1)[1]
        # Slicing, not strptime: this runs for every event of a patched feed.
        moment = datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]))
        if len(value) == 16 and value[8] == "T" and value[15] == "Z":
            moment = moment.replace(
                hour=int(value[9:11]), minute=int(value[11:13]), second=int(value[13:15])
            )
        elif len(value) != 8:  # neither VALUE=DATE nor a UTC DATE-TIME: not ours
            return None
    except (ValueError, IndexError):
        return None
    return (moment, uid), activity_id


def _line_value(block: bytes, name: bytes) -> str | None:
    """The value of the first line starting with ``name`` (after its ``:`` or parameters),
    unfolded; only UID and DTSTART are read, and feedgen never escapes anything in them."""
    at = block.find(name)
    if at < 0:
        return None
    at += 2  # past the CRLF
    end = block.find(b"\r\n", at)
    while block[end + 2 : end + 3] == b" ":  # a folded line continues
        end = block.find(b"\r\n", end + 2)
    line = block[at:end].replace(b"\r\n ", b"").decode()
    if name == _UID:
        return line[len("UID:") :]
    return line


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
