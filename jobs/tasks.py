"""The scheduled jobs: thin calls into feedgen.build that never let an error kill the schedule."""

from __future__ import annotations

import logging

from feedgen.build import Builder
from feedgen.report import RunReport

log = logging.getLogger("feedgen.worker")


def run_cycle(builder: Builder) -> RunReport | None:
    return _run("cycle", builder.cycle)


def run_reconcile(builder: Builder) -> RunReport | None:
    return _run("reconcile", builder.reconcile)


def _run(name: str, job: object) -> RunReport | None:
    try:
        report = job()  # type: ignore[operator]
    except Exception:  # the next run retries; the schedule must go on
        log.exception("%s failed; it runs again at its next time", name)
        return None
    log.info(report.summary())
    for feed_id, message in sorted(report.errors.items())[:20]:
        log.warning("feed %s: %s", feed_id, message)
    for message in report.storage_errors[:20]:
        log.warning("%s (retried later)", message)
    return report  # type: ignore[no-any-return]
