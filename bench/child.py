"""One full rebuild in a fresh process, so its peak RSS is its own (``python -m bench.child TASK``).

The parent passes a JSON task and reads the child's figures from a file; it reaps the child with
``os.wait4``, whose rusage is that one child's, not the maximum over every child so far.
"""

from __future__ import annotations

import cProfile
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import ROOT
from feedgen.config import Config, DatabaseConfig, StorageConfig, WorkerConfig

BUCKET = "feedgen-bench"
REGION = "us-east-1"


def bench_config(
    db_url: str, storage_url: str, endpoint: str | None = None, processes: int | str = 1
) -> Config:
    """feedgen's configuration, built in code: defaults except where the data and storage are."""
    storage = StorageConfig(url=storage_url, region=REGION, endpoint_url=endpoint)
    worker = WorkerConfig(processes=processes)
    return Config(database=DatabaseConfig(url=db_url), storage=storage, worker=worker)


class SqlCounter:
    """Counts the statements an engine sends (an executemany counts once, as one round trip)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)


def run_child(task: dict[str, Any], timeout: float = 3600.0) -> dict[str, Any]:
    """Run ``task`` in a fresh interpreter; return its figures plus its own peak RSS in MB."""
    with tempfile.TemporaryDirectory(prefix="feedgen-bench-") as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "output.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.child", json.dumps({**task, "out": str(out)})],
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                _pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        # Reaped here, so tell the Popen object: it must not wait for the child again.
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0 or not out.exists():
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"bench child {task['mode']} failed ({process.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(out.read_text())
    # The child's own high-water mark when it could read it: wait4's ru_maxrss starts from the
    # parent's resident size at fork (Linux carries it across exec), so it overstates a small child.
    result["peak_rss_mb"] = result.get("self_rss_mb") or usage.ru_maxrss / 1024  # KiB
    return result


def _feedgen(task: dict[str, Any]) -> dict[str, Any]:
    from feedgen.build import Builder
    from feedgen.db import open_engine
    from feedgen.publish.storage import open_storage

    config = bench_config(
        task["db"], task["storage"], task.get("endpoint"), task.get("processes", "auto")
    )
    engine = open_engine(task["db"])
    storage = open_storage(config.storage)
    now = datetime.fromisoformat(task["now"])
    builder = Builder(engine, storage, config, now=lambda: now)
    counter = SqlCounter(engine)
    workers = WorkerPeaks()
    started = time.perf_counter()
    try:
        report = builder.build(force=True)
    finally:
        workers.stop()
    wall = time.perf_counter() - started
    storage.close()
    return {
        "workers_rss_mb": max(workers.peaks.values(), default=None),
        "wall": wall,
        "feeds": report.feeds_built,
        "events": report.events,
        "bytes": report.bytes_uploaded,
        "uploads": report.uploaded,
        "failed": report.failed,
        "sql": counter.count,
    }


def _naive(task: dict[str, Any]) -> dict[str, Any]:
    from bench import naive

    return naive.rebuild(
        task["db"],
        task["storage"],
        task.get("endpoint"),
        task["feed_ids"],
        datetime.fromisoformat(task["now"]),
    )


def main(argv: list[str]) -> None:
    task = json.loads(argv[0])
    # Broken demo rows are logged as warnings on every build; the figures are what matters here.
    logging.basicConfig(level=logging.ERROR)
    run = {"feedgen": _feedgen, "naive": _naive}[task["mode"]]
    if task.get("profile"):
        profiler = cProfile.Profile()
        result = profiler.runcall(run, task)
        profiler.dump_stats(task["profile"])
    else:
        result = run(task)
    result["self_rss_mb"] = peak_rss_mb()
    Path(task["out"]).write_text(json.dumps(result))


class WorkerPeaks:
    """The peak resident size of each process this one starts (``worker.processes``, and
    multiprocessing's small resource tracker), read from /proc while they run: getrusage's
    children figure starts from this process's size."""

    def __init__(self, every: float = 0.1) -> None:
        self.peaks: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(every,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self, every: float) -> None:
        while not self._done.wait(every):
            for pid in _children():
                peak = peak_rss_mb(f"/proc/{pid}/status")
                if peak is not None:
                    self.peaks[pid] = max(peak, self.peaks.get(pid, 0.0))


def _children() -> list[int]:
    try:
        found = Path(f"/proc/{os.getpid()}/task").glob("*/children")
        return [int(pid) for path in found for pid in path.read_text().split()]
    except OSError:
        return []


def peak_rss_mb(path: str = "/proc/self/status") -> float | None:
    """This process's peak resident size since it started (VmHWM), or None off Linux.

    Not ``getrusage``: its ru_maxrss includes the resident size of the process that forked this
    one, up to the exec.
    """
    try:
        with open(path) as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


if __name__ == "__main__":
    main(sys.argv[1:])
