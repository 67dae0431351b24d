"""The benchmark in order: prepare the CRM, measure every figure once, then repeat within budget.

Every measure runs once first, so a run always has the whole table. The long ones (full rebuilds,
the naive baseline, the PUT ceiling) then get further runs in turn, up to ``repeat`` each, while
the projected end stays within ``budget`` seconds; the table says how many runs each figure has.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import data, edits, micro
from bench.child import BUCKET, REGION, SqlCounter, bench_config, run_child
from feedgen.build import Builder
from feedgen.build.report import RunReport
from feedgen.publish.storage import open_storage
from feedgen.state import tables as state


@dataclass(frozen=True)
class Options:
    users: int = 10_000
    repeat: int = 3
    quick: bool = False
    postgres: str | None = None
    folder: Path = Path("var/bench")
    reseed: bool = False
    naive_sample: int = 500  # 0: every feed
    change_fraction: float = 0.01
    budget: float = 900.0
    render_users: int = 200
    processes: int | str = "auto"  # feedgen's worker.processes for its builds and cycles
    rss_users: int = 0  # peak RSS also at larger CRMs, up to this many users


class Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def log(self, message: str) -> None:
        print(f"[{self.elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)


class Busy(Exception):
    """Raised when another benchmark is running on the same data folder or PostgreSQL server."""


class Unreachable(Exception):
    """The PostgreSQL server the benchmark was given does not answer."""


# The advisory lock a benchmark holds on its PostgreSQL server (any 64-bit number of its own).
PG_LOCK = 0x6665656467656E  # "feedgen"


@contextmanager
def exclusive(folder: Path, postgres: str | None = None) -> Iterator[None]:
    """Hold the data folder, and the PostgreSQL server when one is used, for the whole run: two
    runs would overwrite each other's working databases (named by size on the server, whatever
    the folder), and on two cores each would time the other's load as well."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"another benchmark is running in {folder}; wait or pass --dir") from None
        if postgres is None:
            yield
            return
        engine = sa.create_engine(postgres, poolclass=sa.pool.NullPool)
        try:
            try:
                conn = engine.connect()
            except sa.exc.SQLAlchemyError as exc:
                reason = str(exc.orig or exc).strip().splitlines()[0]
                raise Unreachable(f"PostgreSQL (--postgres) does not answer: {reason}") from None
            with conn:
                held = conn.execute(sa.select(sa.func.pg_try_advisory_lock(PG_LOCK))).scalar()
                if not held:
                    raise Busy("another benchmark is running on this PostgreSQL server; wait")
                conn.commit()  # the lock is the session's: it lasts until this connection ends
                yield
        finally:
            engine.dispose()


def rss_sizes(users: int, upto: int = 0) -> list[int]:
    """1,000, 10,000, 100,000 ... up to the run's size (or ``upto``, when larger), and always a
    tenth of the run's size for the slope."""
    largest = max(users, upto)
    sizes = {users, max(10, users // 10)}
    sizes |= {1000 * 10**k for k in range(4) if 1000 * 10**k <= largest}
    if upto > users:
        sizes.add(upto)
    return sorted(sizes)


def fake_aws() -> None:
    # moto accepts any credentials; point boto3 away from a developer's real ones.
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)


class Site:
    """One seeded CRM with its feeds issued and indexed, and the folders its builds write to."""

    def __init__(self, opts: Options, users: int, clock: Clock) -> None:
        self.crm = data.prepare(users, opts.postgres, opts.reseed, clock.log, opts.folder)
        self.engine = data.engine_for(self.crm.url)
        self.feeds_dir = (opts.folder / f"feeds-{users}").absolute()
        self.naive_dir = (opts.folder / f"naive-{users}").absolute()
        for folder in (self.feeds_dir, self.naive_dir):
            shutil.rmtree(folder, ignore_errors=True)
        self.local_url = f"file://{self.feeds_dir}"
        self.processes = opts.processes
        self.config = bench_config(self.crm.url, self.local_url, processes=opts.processes)
        started = time.perf_counter()
        self.issued = data.issue_feeds(self.engine, self.crm.now, self.config.default_options())
        self.issue_seconds = time.perf_counter() - started
        storage = open_storage(self.config.storage)
        now = self.crm.now
        self.builder = Builder(self.engine, storage, self.config, now=lambda: now)
        # The first detection indexes every activity: timed apart, it is not a rebuild's cost.
        started = time.perf_counter()
        self.builder.detect(RunReport("detect"))
        self.index_seconds = time.perf_counter() - started

    def task(self, **extra: Any) -> dict[str, Any]:
        now = self.crm.now.isoformat()
        return {
            "mode": "feedgen",
            "db": self.crm.url,
            "now": now,
            "processes": self.processes,
            **extra,
        }

    def feed_ids(self) -> list[int]:
        f = state.feeds
        with self.engine.connect() as conn:
            query = sa.select(f.c.id).where(f.c.revoked_at.is_(None)).order_by(f.c.id)
            return list(conn.execute(query).scalars())

    def sizes(self) -> list[int]:
        with self.engine.connect() as conn:
            return [s or 0 for s in conn.execute(sa.select(state.builds.c.size)).scalars()]

    def idle_cycles(self, repeat: int) -> list[dict[str, Any]]:
        """Cycles with nothing changed: wall time and SQL statements each."""
        self.builder.cycle()  # settles the change cursor after the builds of other processes
        counter = SqlCounter(self.engine)
        runs = []
        try:
            for _ in range(repeat):
                counter.count = 0
                wall, report = micro.timed(self.builder.cycle)
                runs.append({"wall": wall, "sql": counter.count, "feeds": report.feeds_built})
        finally:
            counter.close()
        return runs

    def force_pair(self) -> dict[str, Any]:
        """Two force builds started at once, each in its own process (PostgreSQL: their claims
        share the feeds out): how many feeds each built, against the feeds there are."""
        tasks = [self.task(storage=self.local_url)] * 2
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(run_child, tasks))
        return {
            "feeds": len(self.feed_ids()),
            "built": [r["feeds"] for r in runs],
            "wall": max(r["wall"] for r in runs),
        }

    def catch_up(self, deleted: list[int]) -> int:
        """Untimed cycles until feedgen's index lets go of the activities deleted outright: found
        a slice a cycle (feedgen.crm.sweep), they may take more than the timed cycle on SQLite."""
        ix = state.activity_index
        cycles = 0
        while cycles < 10_000:
            with self.engine.connect() as conn:
                query = sa.select(sa.func.count()).where(ix.c.activity_id.in_(deleted))
                if not deleted or conn.execute(query).scalar_one() == 0:
                    return cycles
            self.builder.cycle()
            cycles += 1
        return cycles

    def changed_cycles(self, fraction: float, repeat: int) -> list[dict[str, Any]]:
        """Cycles after ``fraction`` of users had a change; check exactly their feeds changed."""
        midnight = datetime(self.crm.now.year, self.crm.now.month, self.crm.now.day)
        before = edits.snapshot(self.feeds_dir)
        runs = []
        for i in range(repeat):
            plan = edits.apply(self.engine, fraction, midnight, seed=1000 + i)
            wall, report = micro.timed(self.builder.cycle)
            late = self.catch_up(plan.hard_deleted)
            after = edits.snapshot(self.feeds_dir)
            content, written = edits.changed(before, after)
            expected = plan.expected_keys
            runs.append(
                {
                    "wall": wall,
                    "users_changed": len(plan.users),
                    "operations": dict(plan.operations),
                    "feeds_expected": len(expected),
                    "team_feeds_expected": len(plan.team_keys),
                    "events": report.events,
                    "feeds_rebuilt": report.feeds_built,
                    "uploaded": report.uploaded,
                    "objects_changed": len(content),
                    "objects_written": len(written),
                    "unexpected": len(content - expected),
                    "missing": len(expected - content),
                    "check": content == expected and written == content,
                    "late_cycles": late,
                }
            )
            before = after
        return runs


def _repeat_within_budget(
    jobs: dict[str, Callable[[], dict[str, Any]]],
    results: dict[str, list[dict[str, Any]]],
    opts: Options,
    clock: Clock,
    reserve: float,
) -> None:
    """Give each job more runs, in turn, while the projected end stays within the budget."""
    progress = True
    while progress:
        progress = False
        for name, job in jobs.items():
            runs = results[name]
            last = runs[-1]["elapsed"] if runs else 0.0
            if len(runs) >= opts.repeat or clock.elapsed + last + reserve > opts.budget:
                continue
            results[name].append(_timed_job(job, clock, name))
            progress = True


def _timed_job(job: Callable[[], dict[str, Any]], clock: Clock, name: str) -> dict[str, Any]:
    clock.log(f"{name}...")
    started = time.perf_counter()
    result = job()
    result["elapsed"] = time.perf_counter() - started
    return result


def run(opts: Options) -> dict[str, Any]:
    from tests.support.moto_server import moto_server

    clock = Clock()
    fake_aws()
    site = Site(opts, opts.users, clock)
    crm = site.crm
    clock.log(
        f"{sum(site.issued.values()):,} feeds issued; first detection {site.index_seconds:.1f}s"
    )
    out: dict[str, Any] = {"site": site}
    with moto_server() as endpoint:
        s3_url = f"s3://{BUCKET}/feeds"
        s3_config = bench_config(crm.url, s3_url, endpoint)
        open_storage(s3_config.storage).client.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
        ids = site.feed_ids()
        step = max(1, -(-len(ids) // opts.naive_sample)) if opts.naive_sample else 1
        sample = ids[::step]
        out["naive_sample"] = {"feeds": len(sample), "of": len(ids), "step": step}
        naive = {"mode": "naive", "db": crm.url, "now": crm.now.isoformat(), "feed_ids": sample}
        out["first"] = _timed_job(
            lambda: run_child(site.task(storage=site.local_url)),
            clock,
            "first build (new feeds: subscribe pages too)",
        )
        jobs: dict[str, Callable[[], dict[str, Any]]] = {
            "rebuild_local": lambda: run_child(site.task(storage=site.local_url)),
            # The same on one process: what the processes bought.
            "rebuild_single": lambda: run_child(site.task(storage=site.local_url, processes=1)),
            "rebuild_s3": lambda: run_child(site.task(storage=s3_url, endpoint=endpoint)),
            "naive_local": lambda: run_child({**naive, "storage": f"file://{site.naive_dir}"}),
            "naive_s3": lambda: run_child(
                {**naive, "storage": f"s3://{BUCKET}/naive", "endpoint": endpoint}
            ),
            "put_ceiling": lambda: micro.put_ceiling(s3_config, site.sizes(), 1)[0],
        }
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in jobs}
        for name, job in jobs.items():
            results[name].append(_timed_job(job, clock, name))
        out.update(results)
        clock.log("cycles with no change...")
        out["idle"] = site.idle_cycles(opts.repeat)
        clock.log(f"cycles after {opts.change_fraction:.0%} of users changed...")
        out["changed"] = site.changed_cycles(opts.change_fraction, opts.repeat)
        clock.log("rendering on one core...")
        min_seconds = 0.2 if opts.quick else 1.0
        out["render"] = micro.render_speed(
            site.engine, site.config, crm.now, opts.render_users, opts.repeat, min_seconds
        )
        if opts.postgres:
            clock.log("two force builds at once...")
            out["force_pair"] = site.force_pair()
        out["sizes"] = {}
        sizes = rss_sizes(opts.users, opts.rss_users)
        for users in sizes:
            if users < opts.users:
                out["sizes"][users] = size_run(opts, users, clock)
        # Whatever time is left goes to further runs of the long measures.
        _repeat_within_budget(jobs, results, opts, clock, reserve=5.0)
        # Larger CRMs (--rss-users) take an hour or more: outside the budget, after the rest.
        for users in sizes:
            if users > opts.users:
                out["sizes"][users] = size_run(opts, users, clock)
    out["elapsed"] = clock.elapsed
    return out


def size_run(opts: Options, users: int, clock: Clock) -> dict[str, Any]:
    """A full rebuild in a fresh process at another size: its peak RSS, and its idle cycle."""
    clock.log(f"peak RSS and idle cycle at {users:,} users...")
    site = Site(opts, users, clock)
    run_child(site.task(storage=site.local_url))  # first build: subscribe pages, not measured
    rebuild = run_child(site.task(storage=site.local_url))
    idle = site.idle_cycles(1)[0]
    site.engine.dispose()
    return {"rebuild": rebuild, "idle": idle, "feeds": sum(site.issued.values())}
