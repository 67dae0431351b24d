"""Freshness: from a commit in the CRM to the stored feed that shows it, with a real worker.

On a copy of the benchmark's CRM, with every feed built first (``feedgen build``), a ``feedgen
worker`` process runs with the default settings (a cycle every ``worker.cycle_seconds``) and then,
on PostgreSQL, with ``worker.listen`` and the triggers of ``feedgen/crm/notify.sql``. Each edit
retitles one activity shown in its owner's feed with a marker (updated_at set to now), commits,
and polls that feed's file (stat, then read when it changed) until the marker is there. Edits come
at random gaps averaging one interval, so they fall at every point of the worker's cycle.

Above 10,000 users the CRM has 10 activities a user, as ``bench.idle``'s has: what a cycle costs
does not grow with the activities (``bench.idle``), and the full shape takes 5 GB to seed.
"""

from __future__ import annotations

import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import data
from bench.child import bench_config
from bench.idle import activities_for
from bench.report import Target, targets_table
from bench.run import Clock
from feedgen.config import WorkerConfig
from feedgen.demo.data import DemoSpec

CYCLE_LINE = re.compile(r" cycle: (\d+) feed\(s\) built.* in ([\d.]+)s")


@dataclass(frozen=True)
class FreshnessOptions:
    users: int = 10_000
    postgres: str | None = None
    folder: Path = data.BENCH_DIR
    reseed: bool = False
    edits: int = 40
    seed: int = 7


@dataclass
class Edit:
    activity_id: int
    feed: Path
    marker: bytes
    committed: float = 0.0
    seen_mtime: int = 0


def run_freshness(opts: FreshnessOptions) -> dict[str, Any]:
    clock = Clock()
    spec = DemoSpec.bench(opts.users)
    fewer = activities_for(opts.users)
    if fewer is not None:
        spec = DemoSpec(users=opts.users, teams=spec.teams, activities_per_user=fewer)
    crm = data.prepare(
        opts.users, opts.postgres, opts.reseed, clock.log, opts.folder, "fresh", spec
    )
    engine = data.engine_for(crm.url)
    folder = (opts.folder / f"fresh-{opts.users}").absolute()
    feeds = folder / "feeds"
    feeds.mkdir(parents=True, exist_ok=True)
    for old in feeds.iterdir():
        old.unlink()
    options = bench_config(crm.url, f"file://{feeds}").default_options()
    issued = data.issue_feeds(engine, crm.now, options)
    clock.log(f"{sum(issued.values()):,} feeds issued; first build (feeds and pages)...")
    started = time.perf_counter()
    _feedgen(_write_config(folder, crm.url, feeds, listen=False), "build")
    out: dict[str, Any] = {
        "users": opts.users,
        "activities_per_user": spec.activities_per_user,
        "database": "postgresql" if opts.postgres else "sqlite",
        "feeds": sum(issued.values()),
        "first_build_seconds": time.perf_counter() - started,
        "cycle_seconds": WorkerConfig().cycle_seconds,
        "modes": {},
    }
    modes = [("defaults", False)] + ([("NOTIFY", True)] if opts.postgres else [])
    rng = random.Random(opts.seed)
    for name, listen in modes:
        if listen:
            _install_triggers(engine)
        config = _write_config(folder, crm.url, feeds, listen=listen)
        clock.log(f"{opts.edits} edits against a worker with {name}...")
        log = folder / f"worker-{name}.log"
        out["modes"][name] = _measure(engine, config, feeds, log, opts, rng)
    engine.dispose()
    out["elapsed"] = clock.elapsed
    return out


def _write_config(folder: Path, url: str, feeds: Path, listen: bool) -> Path:
    """The defaults, but for where the CRM and the feeds are (and listening, if asked)."""
    path = folder / f"feedgen-{'listen' if listen else 'defaults'}.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[storage]\nurl = "file://{feeds}"\n'
        + ("[worker]\nlisten = true\n" if listen else "")
        + '[logging]\nlevel = "INFO"\n',
        encoding="utf-8",
    )
    return path


def _feedgen(config: Path, *args: str) -> None:
    command = [sys.executable, "-m", "feedgen", "--config", str(config), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=7200)
    if done.returncode not in (0, 1):  # 1: some feeds failed (the demo's broken rows): expected
        raise RuntimeError(f"feedgen {' '.join(args)} exited {done.returncode}: {done.stderr}")


def _install_triggers(engine: sa.Engine) -> None:
    sql = resources.files("feedgen.crm").joinpath("notify.sql").read_text(encoding="utf-8")
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)


def _measure(
    engine: sa.Engine,
    config: Path,
    feeds: Path,
    log: Path,
    opts: FreshnessOptions,
    rng: random.Random,
) -> dict[str, Any]:
    interval = WorkerConfig().cycle_seconds
    edits = _shown_activities(engine, feeds, opts.edits, rng)
    with log.open("wb") as sink:
        worker = subprocess.Popen(  # -v: idle cycles log at DEBUG, and their times count too
            [sys.executable, "-m", "feedgen", "--config", str(config), "-v", "worker"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=_environment(),
        )
    try:
        _wait_for_first_cycle(worker, log)
        delays, missed = _edit_and_poll(engine, edits, interval, rng)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)
    cycles = [m.groups() for m in CYCLE_LINE.finditer(log.read_text())][1:]  # after the first
    return {
        "delays": delays,
        "missed": missed,
        "cycles": len(cycles),
        "cycle_walls": [float(wall) for _built, wall in cycles],
        "busy_cycle_walls": [float(wall) for built, wall in cycles if int(built)],
    }


def _environment() -> dict[str, str]:
    """This process's environment without FEEDGEN_ overrides: the config file says it all."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FEEDGEN_")}


def _wait_for_first_cycle(worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 1800
    while CYCLE_LINE.search(log.read_text(errors="replace")) is None:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited {worker.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no cycle within 30 minutes: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def _shown_activities(engine: sa.Engine, feeds: Path, count: int, rng: random.Random) -> list[Edit]:
    """``count`` activities of different users, each shown in its owner's published feed."""
    query = sa.text(
        "SELECT a.id, a.owner_id, b.object_key FROM activities a"
        " JOIN feedgen_feeds f ON f.subject_kind = 'user' AND f.subject_id = a.owner_id"
        " JOIN feedgen_builds b ON b.feed_id = f.id"
        " WHERE a.deleted_at IS NULL AND f.revoked_at IS NULL AND b.object_key IS NOT NULL"
        " AND a.owner_id IN :owners"
    ).bindparams(sa.bindparam("owners", expanding=True))
    with engine.connect() as conn:
        users = list(conn.execute(sa.text("SELECT id FROM users WHERE active")).scalars())
        owners = rng.sample(users, min(len(users), 4 * count))
        rows = list(conn.execute(query, {"owners": owners}))
    picked: dict[int, Edit] = {}
    rng.shuffle(rows)
    for activity_id, owner_id, key in rows:
        if owner_id in picked or len(picked) == count:
            continue
        feed = feeds / key
        if feed.exists() and f"activity-{activity_id}@".encode() in feed.read_bytes():
            marker = f"Freshness check {len(picked):04d}-{rng.randrange(10**6):06d}".encode()
            picked[owner_id] = Edit(activity_id, feed, marker)
    return list(picked.values())


def _edit_and_poll(
    engine: sa.Engine, edits: list[Edit], interval: float, rng: random.Random
) -> tuple[list[float], int]:
    """Commit the edits at random gaps; return each one's delay until its feed showed it."""
    statement = sa.text("UPDATE activities SET title = :title, updated_at = :now WHERE id = :id")
    give_up = 3 * interval + 60
    waiting: list[Edit] = []
    delays: list[float] = []
    missed = 0
    queue = list(edits)
    next_at = time.perf_counter() + rng.uniform(0, interval)
    with engine.connect() as conn:
        conn.commit()  # nothing open between edits
        while queue or waiting:
            now = time.perf_counter()
            if queue and now >= next_at:
                edit = queue.pop(0)
                edit.seen_mtime = edit.feed.stat().st_mtime_ns
                stamp = datetime.now(UTC).replace(tzinfo=None)
                title = edit.marker.decode()
                conn.execute(statement, {"title": title, "now": stamp, "id": edit.activity_id})
                conn.commit()
                edit.committed = time.perf_counter()
                waiting.append(edit)
                next_at = edit.committed + rng.uniform(0.25, 1.75) * interval
            for edit in list(waiting):
                mtime = edit.feed.stat().st_mtime_ns
                if mtime != edit.seen_mtime:
                    edit.seen_mtime = mtime
                    if edit.marker in edit.feed.read_bytes():
                        delays.append(time.perf_counter() - edit.committed)
                        waiting.remove(edit)
                        continue
                if now - edit.committed > give_up:
                    missed += 1
                    waiting.remove(edit)
            time.sleep(0.005)
    return delays, missed


def percentile(values: list[float], share: float) -> float | None:
    """The value below which ``share`` of ``values`` fall (linear between ranks)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * share
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def report(out: dict[str, Any], verdicts: list[Target]) -> str:
    head = f"{'worker':<12} {'edits':>5} {'missed':>6} {'p50 s':>7} {'p95 s':>7} {'max s':>7}"
    head += f" {'cycles':>6} {'cycle median s':>14} {'busy cycle median s':>19}"
    lines = [
        f"feedgen freshness: {out['users']:,} users ({out.get('activities_per_user', 100)} "
        f"activities each) on {out['database']}, {out['feeds']:,} feeds; "
        f"commit -> stored feed, cycles every {out['cycle_seconds']:g} s (the default); first "
        f"build {out['first_build_seconds']:.0f}s; {out['elapsed']:.0f}s in all",
        "",
        head,
        "-" * len(head),
    ]
    for name, mode in out["modes"].items():
        delays = mode["delays"]
        cells = [percentile(delays, 0.5), percentile(delays, 0.95), max(delays, default=None)]
        walls = [_median(mode["cycle_walls"]), _median(mode["busy_cycle_walls"])]
        lines.append(
            f"{name:<12} {len(delays) + mode['missed']:>5} {mode['missed']:>6} "
            + " ".join(f"{_fmt(v):>7}" for v in cells)
            + f" {mode['cycles']:>6} {_fmt(walls[0]):>14} {_fmt(walls[1]):>19}"
        )
    return "\n".join([*lines, "", targets_table(verdicts)])


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
