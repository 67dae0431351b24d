"""Running a build job from the command line: the wait for a held SQLite database, a progress
bar on a terminal, the report as text or JSON, and the exit code."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import click

from ..app import App
from ..build import Builder
from ..build.report import RunReport
from ..state import runlock
from .helpers import RET_FEEDS_FAILED
from .output import emit, print_report, report_document


class Progress:
    """click's progress bar on stderr, fed by the builder's (feeds done, feeds in all) hook:
    only when stderr is a terminal and stdout is not a JSON document; silent otherwise."""

    def __init__(self, label: str, as_json: bool) -> None:
        self.label = label
        self.enabled = not as_json and sys.stderr.isatty()
        self.bar: Any = None  # click's ProgressBar
        self.started = 0.0
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        if self.bar is None:
            self.started, self.done = time.monotonic(), 0
            self.bar = click.progressbar(
                length=total,
                label=self.label,
                file=sys.stderr,
                show_pos=True,
                show_eta=True,
                item_show_func=_shown,
            )
            self.bar.__enter__()
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self.bar.update(done - self.done, f"{done / elapsed:.0f} feeds/s")
        self.done = done

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.bar is not None:
            self.bar.__exit__(exc_type, exc, tb)
            self.bar = None


def _shown(rate: str | None) -> str | None:
    return rate


def wait_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--wait",
        "wait_seconds",
        type=click.FloatRange(min=0),
        default=runlock.JOB_WAIT_SECONDS,
        show_default=True,
        metavar="SECONDS",
        help="On SQLite, how long to wait for a job that holds the database before exiting 8.",
    )(func)


def run_job(
    app: App,
    kind: str,
    run: Callable[[Builder], RunReport],
    as_json: bool,
    wait_seconds: float = runlock.JOB_WAIT_SECONDS,
) -> None:
    def waiting(holder: str) -> None:
        click.echo(f"waiting up to {wait_seconds:g} s for {holder}", err=True)

    with Progress(f"{kind}: feeds", as_json) as progress:
        report, signals = app.run_job(kind, run, waiting, progress, wait_seconds)
    if signals.received is not None:
        if as_json:
            emit(report_document(report) | {"stopped_by": signals.received.name})
        else:
            click.echo(report.summary())
            click.echo(f"stopped by {signals.received.name}", err=True)
        sys.exit(signals.exit_code)
    finish(report, as_json)


def finish(report: RunReport, as_json: bool) -> None:
    if as_json:
        emit(report_document(report))
    else:
        print_report(report)
    if report.errors or report.storage_errors:
        sys.exit(RET_FEEDS_FAILED)
