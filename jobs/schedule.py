"""The worker: APScheduler runs a cycle every few seconds and a reconcile every night.

One job runs at a time (one thread, max_instances=1, coalesced): a slow reconcile delays cycles
rather than racing them. The first cycle runs at once, as a scheduled job like the others. With
``worker.listen``, the CRM's NOTIFY runs the cycle sooner (``jobs.wakeup``).

Stopping: SIGTERM or SIGINT sets the builder's stop flag (``feedgen.stopping``). The running job
finishes the batch in hand, records it and returns; the main thread then shuts the scheduler down,
waiting for that job, and only then does anything get closed. A second signal, or a stop longer
than ``worker.stop_seconds``, exits at once.

With ``metrics.port`` set, the metrics and health endpoint (``health``) serves from the start of
the worker until its scheduler has shut down.
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feedgen.app import App
from feedgen.config import WorkerConfig
from feedgen.state.liveness import Heartbeat
from feedgen.state.runlock import RunLock
from feedgen.stopping import StopSignals, wait_in_steps

from .health import MetricsServer
from .metrics import WorkerMetrics
from .tasks import Jobs
from .wakeup import listen_for_changes

log = logging.getLogger("feedgen.worker")


def make_scheduler(jobs: Jobs, config: WorkerConfig) -> BackgroundScheduler:
    # One thread: cycles and reconciles never overlap within a worker; several workers share the
    # work through the database instead.
    scheduler = BackgroundScheduler(
        timezone="UTC",
        executors={"default": {"type": "threadpool", "max_workers": 1}},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    scheduler.add_job(
        jobs.cycle,
        IntervalTrigger(seconds=config.cycle_seconds),
        id="cycle",
        name="cycle",
        next_run_time=datetime.now(UTC),  # start current rather than a whole interval late
    )
    scheduler.add_job(
        jobs.reconcile,
        CronTrigger(hour=config.reconcile_at.hour, minute=config.reconcile_at.minute),
        id="reconcile",
        name="reconcile",
    )
    return scheduler


def run_worker(app: App) -> None:
    """Run the schedule until SIGTERM or SIGINT; return once the running job has ended."""
    config = app.config.worker
    stop = threading.Event()
    lock = RunLock.for_url(app.config.database.url)  # SQLite: one worker, one job at a time
    signals = StopSignals(stop, config.stop_seconds)
    # Installed before the rest: a signal during start-up stops the worker as cleanly.
    with lock.worker() if lock else nullcontext(), signals:
        builder = app.builder(stop=stop)
        metrics = WorkerMetrics(app.engine)
        builder.progress = metrics.progressed
        # Bound before anything starts: a port in use stops the worker with one line.
        server = MetricsServer.from_config(metrics, app.config.metrics, config.cycle_seconds)
        heartbeat = Heartbeat(app.engine)
        heartbeat.start()
        jobs = Jobs(builder, config, lock=lock, heartbeat=heartbeat, metrics=metrics)
        scheduler = make_scheduler(jobs, config)
        if server:
            server.start()
            log.info(
                "metrics and health on http://%s:%d/metrics, /healthz", server.address, server.port
            )
        listener = listen_for_changes(app.engine, scheduler) if config.listen else None
        if not stop.is_set():
            scheduler.start()
            log.info(
                "worker started: a cycle every %g s, a reconcile daily at %s UTC",
                config.cycle_seconds,
                config.reconcile_at.strftime("%H:%M"),
            )
        while not stop.wait(1.0):
            pass
        assert signals.received is not None
        log.info(
            "%s: stopping after the batch in hand (at most %d s; a second signal stops at once)",
            signals.received.name,
            config.stop_seconds,
        )

        def shut_down() -> None:
            if listener:
                listener.close()
            if scheduler.running:
                scheduler.shutdown(wait=True)
            if server:
                server.stop()
            heartbeat.stop()

        # In steps: a second signal stops at once while the job finishes its batch.
        wait_in_steps(shut_down, name="shutdown")
    log.info("worker stopped")
