"""Building: build, cycle, reconcile, the worker, and status."""

from __future__ import annotations

import click

from ..app import App
from ..build import Builder
from ..build.report import RunReport
from ..model import utc_now
from ..state import feeds, liveness
from ..tokens import redact_key
from .helpers import (
    _calendar_name,
    _print_feed,
    _run_job,
    _subject,
    handle_errors,
    pass_app,
    subject_options,
)


@click.command()
@subject_options
@click.option("--force", is_flag=True, help="Upload even feeds whose bytes did not change.")
@pass_app
@handle_errors
def build(app: App, user_id: int | None, team_id: int | None, force: bool) -> None:
    """Build every feed now (or one subject's with --user/--team)."""
    subject = None if user_id is None and team_id is None else _subject(user_id, team_id)

    def run(builder: Builder) -> RunReport:
        feed_ids = None
        if subject is not None:
            with app.engine.connect() as conn:
                feed_ids = [feeds.get_feed(conn, *subject).id]
        return builder.build(feed_ids, force=force)

    _run_job(app, "build", run)


@click.command()
@pass_app
@handle_errors
def cycle(app: App) -> None:
    """Run one cycle now: rebuild the feeds that changed since the last one."""
    _run_job(app, "cycle", Builder.cycle)


@click.command()
@click.option("--dry-run", is_flag=True, help="Say what would be uploaded and deleted; do nothing.")
@click.option("--force", is_flag=True, help="Delete strays even beyond worker.max_delete_share.")
@pass_app
@handle_errors
def reconcile(app: App, dry_run: bool, force: bool) -> None:
    """Rebuild and compare every feed, upload what storage lacks, delete objects no active feed
    owns (the nightly job). Refuses to delete an unsafe share of storage unless --force."""
    if dry_run:
        app.builder()  # checks the tables and storage like a run would
        _print_survey(app)
        return
    _run_job(app, "reconcile", lambda builder: builder.reconcile(force=force))


def _print_survey(app: App) -> None:
    from ..build.cleanup import survey

    found = survey(app.engine, app.storage)
    click.echo(
        f"{found.active} active feed(s), {found.objects} feed object(s) in storage: would "
        f"rebuild and compare every feed, upload {len(found.missing_feeds)} missing feed(s) "
        f"and {len(found.missing_pages)} missing page(s), and delete {len(found.stray)} "
        "object(s) that no active feed owns"
    )
    for key in found.stray[:50]:
        click.echo(f"  delete {redact_key(key)}: no active feed owns it")
    refusal = found.refusal(app.config.worker.max_delete_share)
    if refusal is not None:
        click.echo(f"would refuse without --force: {refusal}")


@click.command()
@pass_app
@handle_errors
def worker(app: App) -> None:
    """Run the schedule: a cycle every worker.cycle_minutes, a reconcile at worker.reconcile_at."""
    from jobs.schedule import run_worker

    run_worker(app)


@click.command()
@click.option("--limit", default=10, show_default=True, help="How many feeds to list.")
@click.option("--show-urls", is_flag=True, help="Print whole feed URLs (secret) and their links.")
@pass_app
@handle_errors
def status(app: App, limit: int, show_urls: bool) -> None:
    """Show feeds, their last build and failures, pending deletions, the workers seen and the
    last runs; URLs shortened unless --show-urls."""
    from ..render.events import SERIALISER
    from ..state.status import feed_status

    require = app.builder  # checks schema and storage before reporting
    require()
    with app.engine.connect() as conn:
        summary, rows = feed_status(conn, limit, utc_now())
        workers_and_runs = liveness.status_lines(conn, utc_now())
    for line in summary:
        click.echo(line)
    click.echo(f"serialiser: {SERIALISER}")
    for line in workers_and_runs:
        click.echo(line)
    for row in rows:
        click.echo("")
        click.echo(f"{row.subject}: {row.events} events, {row.size} bytes, built {row.built_at}")
        if row.error:
            click.echo(f"  last error: {row.error}")
        _print_feed(app, row.feed, _calendar_name(app, row.feed.subject_kind, row.name), show_urls)


COMMANDS = (build, cycle, reconcile, worker, status)
