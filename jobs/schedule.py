"""The worker: APScheduler runs a cycle every few minutes and a reconcile every night.

One job runs at a time (max_instances=1, coalesced): a slow reconcile delays cycles rather than
racing them. SIGTERM and SIGINT stop the scheduler after the running job finishes.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feedgen.build import Builder
from feedgen.config import WorkerConfig

from .tasks import run_cycle, run_reconcile

log = logging.getLogger("feedgen.worker")


def make_scheduler(builder: Builder, config: WorkerConfig) -> BlockingScheduler:
    # One thread: cycles and reconciles never overlap within a worker; several workers share the
    # work through the database instead.
    scheduler = BlockingScheduler(
        timezone="UTC",
        executors={"default": {"type": "threadpool", "max_workers": 1}},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    scheduler.add_job(
        run_cycle,
        IntervalTrigger(minutes=config.cycle_minutes),
        args=[builder],
        id="cycle",
        name="cycle",
    )
    scheduler.add_job(
        run_reconcile,
        CronTrigger(hour=config.reconcile_at.hour, minute=config.reconcile_at.minute),
        args=[builder],
        id="reconcile",
        name="reconcile",
    )
    return scheduler


def run_worker(builder: Builder, config: WorkerConfig) -> None:
    scheduler = make_scheduler(builder, config)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the running job", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "worker started: a cycle every %s min, a reconcile daily at %s UTC",
        config.cycle_minutes,
        config.reconcile_at.strftime("%H:%M"),
    )
    run_cycle(builder)  # start current rather than a whole interval late
    try:
        scheduler.start()
    finally:
        builder.storage.close()
        log.info("worker stopped")
