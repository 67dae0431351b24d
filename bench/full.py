"""``python -m bench --full``: every figure the targets name, from one run (about 90 minutes).

In turn, so that no part times another's load: the timed measures on SQLite at ``--users``; idle
cycles at 1,000, 10,000 and 100,000 users on SQLite and on PostgreSQL (``bench.idle``); two force
builds at once on PostgreSQL; freshness at 10,000 and 100,000 users on PostgreSQL with the default
settings and with NOTIFY (``bench.freshness``); last, the full rebuild at 100,000 users on SQLite
(as ``--rss-users 100000`` measures it). Each seeded CRM is kept under ``--dir`` and reused by the
next run, and by the parts of this one that share its shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bench import calibrate, idle
from bench.child import run_child
from bench.freshness import FreshnessOptions, run_freshness
from bench.run import Clock, Options, Site, run, size_run


@dataclass(frozen=True)
class Sizes:
    """The CRM sizes of each part: the targets' own by default."""

    idle: list[int] = field(default_factory=lambda: [1_000, 10_000, 100_000])
    freshness: list[int] = field(default_factory=lambda: [10_000, 100_000])
    large: int = 100_000  # the full rebuild after the timed measures


def run_full(
    opts: Options,
    postgres: str,
    edits: int,
    part_done: Callable[[str, dict[str, Any]], None],
    sizes: Sizes = Sizes(),
) -> dict[str, Any]:
    """Run every part; ``part_done(name, out)`` hears of each as it ends, so a run cut short
    still shows what it measured. The machine's speed is timed before the first and after each
    (``out["calibration"]``). ``opts`` are the timed measures', on SQLite (``postgres=None``)."""
    points = [("before", calibrate.seconds())]

    def done(part: str, out: dict[str, Any]) -> None:
        points.append((f"after {part}", calibrate.seconds()))
        part_done(part, out)

    out = run(opts)
    out["calibration"] = points
    done("timed", out)
    out["idle_sizes"] = [
        idle.measure(users, database, opts.folder, activities=idle.activities_for(users))
        for database in (None, postgres)
        for users in sizes.idle
    ]
    done("idle", out)
    out["force_pair"] = force_pair(replace(opts, postgres=postgres))
    done("force", out)
    out["freshness"] = []
    for users in sizes.freshness:
        fresh = FreshnessOptions(users=users, postgres=postgres, folder=opts.folder, edits=edits)
        out["freshness"].append(run_freshness(fresh))
        done("freshness", out)
    # The longest part last: seeding and first building 100,000 users take most of an hour.
    out["sizes"][sizes.large] = size_run(opts, sizes.large, Clock())
    done("large", out)
    return out


def force_pair(opts: Options) -> dict[str, Any]:
    """Two force builds at once on ``opts.postgres``, after a first build of every feed."""
    clock = Clock()
    site = Site(opts, opts.users, clock)
    clock.log("first build on PostgreSQL, then two force builds at once...")
    run_child(site.task(storage=site.local_url))
    pair = site.force_pair()
    site.engine.dispose()
    return pair
