"""The cost of a cycle with nothing changed, at several CRM sizes, and how late a hard delete shows.

``python -m bench.idle --users 1000,10000,100000`` (or ``python -m bench --idle-users ...``). Each
size is seeded once (``bench.data``), its feeds issued and indexed, then marked built without
building them: an idle cycle reads no feed, so their bytes do not matter, and skipping the build
saves most of an hour at 100,000 users. Above 10,000 users the CRM gets 10
activities per user instead of the benchmark's 100: an idle cycle reads a fixed slice of them
whatever their number (the delay of a hard delete grows with the id span, shown beside it), and
100 each would take 11 minutes and 5 GB to seed at 100,000 users.

The hard delete is the worst case: the activity just behind the slice the next cycle compares
(``feedgen.crm.sweep``); cycles run until its owner's feed is marked. On PostgreSQL the server's
row counters find it sooner, within the seconds they lag.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import BENCH_DIR, data
from bench.child import SqlCounter, bench_config
from bench.report import Target, targets_table
from bench.run import fake_aws
from feedgen.build import Builder
from feedgen.build.report import RunReport
from feedgen.config import WorkerConfig
from feedgen.crm import sweep
from feedgen.crm import tables as crm
from feedgen.demo.data import DemoSpec
from feedgen.publish.storage import open_storage
from feedgen.state import tables as state

CYCLES = 15


# Between two timed cycles: on a shared machine, cycles spread over a few seconds meet its other
# work less in step than cycles run back to back.
PAUSE_SECONDS = 0.2


# Above this many users, seed FEW_ACTIVITIES per user rather than the benchmark's 100.
FULL_ACTIVITIES_UPTO = 10_000


FEW_ACTIVITIES = 10


TARGET_RATIO = 1.5


TARGET_POSTGRES_100K = 0.050


def activities_for(users: int) -> int | None:
    return None if users <= FULL_ACTIVITIES_UPTO else FEW_ACTIVITIES


def measure(
    users: int,
    postgres: str | None,
    folder: Path,
    cycles: int = CYCLES,
    activities: int | None = None,
    cycle_seconds: float = WorkerConfig().cycle_seconds,
) -> dict[str, Any]:
    """Idle cycles at one size: wall times, statements, and the hard-delete delay."""
    spec = DemoSpec.bench(users)
    if activities is not None:
        spec = DemoSpec(users=users, teams=spec.teams, activities_per_user=activities)
    log = _log
    site = data.prepare(users, postgres, False, log, folder, "idle", spec)
    engine = data.engine_for(site.url)
    feeds_dir = (folder / f"idle-feeds-{users}").absolute()
    config = bench_config(site.url, f"file://{feeds_dir}")
    issued = data.issue_feeds(engine, site.now, config.default_options())
    now = site.now
    builder = Builder(engine, open_storage(config.storage), config, now=lambda: now)
    started = time.perf_counter()
    builder.detect(RunReport("detect"))
    log(f"{users:,} users: first detection {time.perf_counter() - started:.1f}s")
    with engine.begin() as conn:
        conn.execute(sa.update(state.builds).values(dirty=False, pending_ids=None))
    if postgres:
        # What autovacuum does to a live database: statistics, and the visibility map that lets
        # counts read an index alone.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    builder.cycle()  # settles the cursors (and the row counters) left by the first pass
    counter = SqlCounter(engine)
    runs = []
    try:
        for _ in range(cycles):
            time.sleep(PAUSE_SECONDS)
            counter.count = 0
            started = time.perf_counter()
            report = builder.cycle()
            runs.append(
                {
                    "wall": time.perf_counter() - started,
                    "sql": counter.count,
                    "built": report.feeds_built,
                }
            )
    finally:
        counter.close()
    vm_steps = None
    if not postgres:  # counted apart: the handler's calls would slow the timed cycles
        steps = VmSteps(engine)
        counted = []
        for _ in range(3):
            steps.count = 0
            builder.cycle()
            counted.append(steps.count * VmSteps.EVERY)
        steps.close()
        vm_steps = statistics.median(counted)
    delay = hard_delete_delay(engine, builder, cycle_seconds)
    engine.dispose()
    return {
        "users": users,
        "activities": spec.users * spec.activities_per_user,
        "activities_per_user": spec.activities_per_user,
        "feeds": sum(issued.values()),
        "database": "postgresql" if postgres else "sqlite",
        "wall": statistics.median(r["wall"] for r in runs),
        "walls": [r["wall"] for r in runs],
        "sql": sorted({r["sql"] for r in runs}),
        "vm_steps": vm_steps,
        "built": sum(r["built"] for r in runs),
        "hard_delete": delay,
    }


class VmSteps:
    """SQLite's virtual-machine instructions, counted by a progress handler (every EVERY): the
    work of a cycle's statements, which the machine's other load does not blur as it blurs time."""

    EVERY = 100

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.count = 0
        engine.dispose()  # connections opened from here on get the handler
        sa.event.listen(engine, "connect", self._attach)

    def _attach(self, dbapi: Any, _record: Any) -> None:
        if hasattr(dbapi, "set_progress_handler"):
            dbapi.set_progress_handler(self._step, self.EVERY)

    def _step(self) -> int:
        self.count += 1
        return 0

    def close(self) -> None:
        sa.event.remove(self.engine, "connect", self._attach)
        self.engine.dispose()


def hard_delete_delay(engine: sa.Engine, builder: Builder, cycle_seconds: float) -> dict[str, Any]:
    """Delete the activity the slices passed last, run cycles until its owner's feed is marked."""
    a, p, c = crm.activities, crm.participants, state.cursors
    with engine.begin() as conn:
        value = conn.execute(
            sa.select(c.c.value).where(c.c.name == sweep.CURSOR_SLICES)
        ).scalar_one()
        position = sweep.positions(value)["activities"]
        low, high = conn.execute(sa.select(sa.func.min(a.c.id), sa.func.max(a.c.id))).one()
        target, owner = conn.execute(
            sa.select(a.c.id, a.c.owner_id)
            .where(a.c.id <= max(position, low))
            .order_by(a.c.id.desc())
            .limit(1)
        ).one()
        conn.execute(sa.delete(p).where(p.c.activity_id == target))
        conn.execute(sa.delete(a).where(a.c.id == target))
    bound = math.ceil((high - low + 1) / sweep.SLICE_IDS["activities"]) + 1
    f, b = state.feeds, state.builds
    for cycle in range(1, bound + 2):
        if engine.dialect.name == "postgresql":
            time.sleep(1.5)  # the server's row counters lag by about a second
        with engine.begin() as conn:
            feed = sa.select(f.c.id).where(f.c.subject_kind == "user", f.c.subject_id == owner)
            # The cycle builds what it marks; a built feed shows the delete through built_at.
            before = conn.execute(sa.select(b.c.built_at).where(b.c.feed_id.in_(feed))).scalar()
        started = time.perf_counter()
        report = builder.cycle()
        wall = time.perf_counter() - started
        if report.changed_activities or report.feeds_built:
            return {
                "cycles": cycle,
                "bound_cycles": bound,
                "bound_seconds": bound * cycle_seconds,
                "last_cycle_wall": wall,
                "built_before": before is not None,
            }
    return {"cycles": None, "bound_cycles": bound, "bound_seconds": bound * cycle_seconds}


def table(results: list[dict[str, Any]]) -> str:
    """The idle-cycle table, one row per database and size, with the largest/smallest ratio."""
    lines = [
        "| database | users | activities | idle cycle (median) | SQL statements | SQLite VM steps "
        "| hard delete seen after (bound) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        hd = r["hard_delete"]
        seen = f"{hd['cycles']} cycle(s)" if hd["cycles"] else "not seen"
        lines.append(
            f"| {r['database']} | {r['users']:,} | {r['activities']:,} "
            f"({r['activities_per_user']}/user) | {r['wall'] * 1000:.1f} ms | "
            f"{'/'.join(map(str, r['sql']))} | "
            f"{'' if r['vm_steps'] is None else format(round(r['vm_steps']), ',')} | {seen} "
            f"(≤ {hd['bound_cycles']} cycles, {hd['bound_seconds'] / 60:.1f} min at the default "
            f"{WorkerConfig().cycle_seconds:g} s cycles) |"
        )
    for database in sorted({r["database"] for r in results}):
        rows = sorted((r for r in results if r["database"] == database), key=lambda r: r["users"])
        if len(rows) > 1:
            small, large = rows[0], rows[-1]
            lines.append(
                f"\n{database}: {large['users']:,} / {small['users']:,} users = "
                f"{large['wall'] / small['wall']:.2f}× (target ≤ {TARGET_RATIO}×)"
            )
    return "\n".join(lines)


def targets(results: list[dict[str, Any]]) -> list[Target]:
    """Flat idle cost: largest / smallest size per database; PostgreSQL's at 100,000 users."""
    found = []
    for database in sorted({r["database"] for r in results}):
        rows = sorted((r for r in results if r["database"] == database), key=lambda r: r["users"])
        if len(rows) > 1:
            small, large = rows[0], rows[-1]
            ratio = large["wall"] / small["wall"]
            found.append(
                Target(
                    f"idle cycle {large['users']:,} / {small['users']:,} users, {database}",
                    f"<= {TARGET_RATIO}x",
                    f"{ratio:.2f}x ({large['wall']:.3f}s vs {small['wall']:.3f}s)",
                    ratio <= TARGET_RATIO,
                )
            )
    for r in results:
        if r["database"] == "postgresql" and r["users"] == 100_000:
            found.append(
                Target(
                    "idle cycle at 100,000 users, postgresql",
                    f"< {TARGET_POSTGRES_100K * 1000:.0f} ms",
                    f"{r['wall'] * 1000:.1f} ms",
                    r["wall"] < TARGET_POSTGRES_100K,
                )
            )
    return found


def _log(message: str) -> None:
    print(f"[idle] {message}", file=sys.stderr, flush=True)


def sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__)
    parser.add_argument("--users", type=sizes, default=[1000, 10_000], help="e.g. 1000,10000")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL too (an admin URL)")
    parser.add_argument("--cycles", type=int, default=CYCLES, help="idle cycles per size")
    parser.add_argument("--dir", type=Path, default=BENCH_DIR)
    args = parser.parse_args(argv)
    fake_aws()
    results = []
    for database in [None, args.postgres] if args.postgres else [None]:
        for users in args.users:
            results.append(measure(users, database, args.dir, args.cycles, activities_for(users)))
            _log(str(results[-1]))
    print(table(results))
    print()
    print(targets_table(targets(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
