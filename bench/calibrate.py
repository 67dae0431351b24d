"""The machine's speed, timed on a fixed piece of work between the parts of a run.

A shared machine's speed can move by 2x within minutes (seen here: the same 1,000-user rebuild
took 12 s and 29 s half an hour apart, nothing else running). Ratios taken within one measure hold
through that; absolute figures (events/s, minutes for 100,000 users) do not, so a run says how far
the machine's speed moved while it ran.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta

from feedgen.model import Activity, ActivityKind, FeedOptions, Participant, User
from feedgen.render.content import FeedView, event_content, validate
from feedgen.render.events import event_bytes

STEADY = 1.25  # slowest / fastest calibration within which a run's absolute figures compare
# ``seconds()`` on the machine of the README's "slower machine" figures (December 2026): a run
# elsewhere says how its machine compares, so its absolute figures can be read beside those. The
# probe runs feedgen's own rendering path, so a change to that path moves it: 0.044 s there with
# the path of those figures, times 0.87 since event_content went to one pass (the probe's old/new
# ratio in 12 A/B pairs on one machine, median).
REFERENCE_SECONDS = 0.038


# 1,000 activities built once, the same on every machine: a feed's mix of kinds, colleagues and
# outside contacts, descriptions and locations.
_EPOCH = datetime(2026, 1, 5, 9, 0)
_KINDS = (ActivityKind.MEETING, ActivityKind.VIEWING, ActivityKind.CALL, ActivityKind.TASK)
_COLLEAGUES = {
    i: User(i, f"Colleague {i}", f"colleague{i}@agency.example", "UTC") for i in range(40)
}


def _activity(i: int) -> Activity:
    kind = _KINDS[i % 4]
    start = _EPOCH + timedelta(hours=i * 7)
    timed = kind != ActivityKind.TASK
    return Activity(
        id=i + 1,
        kind=kind,
        owner_id=i % 40,
        title=f"Viewing of flat {i} on Long Street, with the owner's notes",
        created_at=_EPOCH,
        updated_at=_EPOCH + timedelta(seconds=i),
        description=f"Bring the keys for unit {i}.\nCall the client first: +44 20 7946 {i:04d}.",
        location=f"{i} Long Street, Leeds",
        start=start if timed else None,
        end=start + timedelta(hours=1) if timed else None,
        due=start if not timed else None,
        participants=(
            Participant(
                f"Colleague {(i + 1) % 40}", f"colleague{(i + 1) % 40}@agency.example", (i + 1) % 40
            ),
            Participant(f"Client {i}", f"client{i}@mail.example"),
        ),
    )


_ACTIVITIES = [_activity(i) for i in range(1_000)]
_VIEW = FeedView(FeedOptions(), "feeds.example", "https://crm.example/activities/{id}", _COLLEAGUES)


def work() -> int:
    """Fixed work on the path a build spends its time on: each activity validated, its event
    content decided and its bytes written (in C where built), four times over. Machines of one
    kind differed by 1.6-2.7x on a build's work; a probe of the same work tracks that, where a
    loop of plain interpreter work need not."""
    written = 0
    for _ in range(4):
        for activity in _ACTIVITIES:
            validate(activity)
            written += len(event_bytes(event_content(activity, _VIEW)))
    return written


def seconds(repeat: int = 5) -> float:
    """The median wall time of ``work`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def verdict(points: list[tuple[str, float]]) -> str:
    """One line on how far the machine's speed moved between ``points`` (where, seconds)."""
    fastest = min(s for _, s in points)
    slowest = max(s for _, s in points)
    spread = slowest / fastest
    steady = "steady" if spread <= STEADY else "NOT steady: absolute figures mix speeds"
    shown = ", ".join(f"{s:.3f}s {where}" for where, s in points)
    typical = statistics.median(s for _, s in points) / REFERENCE_SECONDS
    return (
        f"machine speed (a fixed piece of work): {shown}; moved {spread:.2f}x, {steady}; "
        f"{typical:.2f}x the time of the README's reference ({REFERENCE_SECONDS:.3f}s)"
    )
