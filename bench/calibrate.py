"""The machine's speed, timed on a fixed piece of work between the parts of a run.

A shared machine's speed can move by 2x within minutes (seen here: the same 1,000-user rebuild
took 12 s and 29 s half an hour apart, nothing else running). Ratios taken within one measure hold
through that; absolute figures (events/s, minutes for 100,000 users) do not, so a run says how far
the machine's speed moved while it ran.
"""

from __future__ import annotations

import statistics
import time

STEADY = 1.25  # slowest / fastest calibration within which a run's absolute figures compare


def work() -> int:
    """Fixed, CPU-bound Python: dict, string and integer work, as a build does."""
    seen: dict[str, int] = {}
    total = 0
    for i in range(200_000):
        key = f"activity-{i % 5_000}@feedgen"
        seen[key] = seen.get(key, 0) + i
        total += len(key) * (i & 7)
    return total + len(seen)


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
    return f"machine speed (a fixed piece of work): {shown}; moved {spread:.2f}x, {steady}"
