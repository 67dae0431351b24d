"""Building: build, cycle, reconcile, the worker, and status."""

from __future__ import annotations

from typing import Any

import click

from ..app import App
from ..build import Builder
from ..build.report import RunReport
from ..model import utc_now
from ..state import feeds, liveness
from ..tokens import redact_key
from .context import Session, json_option, pass_app, pass_reader, pass_session
from .helpers import _subject, handle_errors, known_subject, subject_options
from .output import calendar_name, emit, feed_document, print_feed
from .plan import plan_build
from .running import run_job, wait_option


@click.command()
@subject_options
@click.option("--force", is_flag=True, help="Upload even feeds whose bytes did not change.")
@click.option(
    "--dry-run", is_flag=True, help="Say which feeds would be rebuilt and why; do nothing."
)
@wait_option
@json_option
@pass_session
@handle_errors
def build(
    session: Session,
    user_id: int | None,
    team_id: int | None,
    force: bool,
    dry_run: bool,
    wait_seconds: float,
    as_json: bool,
) -> None:
    """Build every feed now (or one subject's with --user/--team)."""
    app = session.app(read_only=dry_run)
    feed_ids = None
    if user_id is not None or team_id is not None:
        subject = _subject(user_id, team_id)
        app.check_tables()
        with app.engine.connect() as conn:
            known_subject(conn, *subject)
            feed_ids = [feeds.get_feed(conn, *subject).id]
    if dry_run:
        app.check_tables()
        _print_plan(app, feed_ids, force, as_json)
        return
    run_job(
        app, "build", lambda builder: builder.build(feed_ids, force=force), as_json, wait_seconds
    )


def _print_plan(app: App, feed_ids: list[int] | None, force: bool, as_json: bool) -> None:
    planned = plan_build(app, feed_ids, force)
    changed = [item for item in planned if item.reasons]
    if as_json:
        emit(
            {
                "dry_run": True,
                "force": force,
                "feeds": len(planned),
                "changed": len(changed),
                "rebuilt": [
                    {
                        "feed_id": item.feed_id,
                        "kind": str(item.kind),
                        "subject_id": item.subject_id,
                        "name": item.name,
                        "reasons": item.reasons,
                    }
                    for item in planned
                ],
            }
        )
        return
    click.echo(
        f"build would rebuild {len(planned)} active feed(s) in full, "
        f"{'uploading every one (--force)' if force else 'uploading those whose bytes differ'}; "
        f"{len(changed)} changed since their last build:"
    )
    for item in changed:
        click.echo(f"  {item.kind} {item.subject_id} ({item.name}): {'; '.join(item.reasons)}")
    click.echo("nothing was built, uploaded or marked")


@click.command()
@wait_option
@json_option
@pass_app
@handle_errors
def cycle(app: App, wait_seconds: float, as_json: bool) -> None:
    """Run one cycle now: rebuild the feeds that changed since the last one."""
    run_job(app, "cycle", Builder.cycle, as_json, wait_seconds)


@click.command()
@click.option("--dry-run", is_flag=True, help="Say what would be uploaded and deleted; do nothing.")
@click.option("--force", is_flag=True, help="Delete strays even beyond worker.max_delete_share.")
@wait_option
@json_option
@pass_session
@handle_errors
def reconcile(
    session: Session, dry_run: bool, force: bool, wait_seconds: float, as_json: bool
) -> None:
    """Rebuild and compare every feed, upload what storage lacks, delete objects no active feed
    owns (the nightly job). Refuses to delete an unsafe share of storage unless --force."""
    app = session.app(read_only=dry_run)
    if dry_run:
        app.check_tables()
        _print_survey(app, as_json)
        return

    def run(builder: Builder) -> RunReport:
        return builder.reconcile(force=force)

    run_job(app, "reconcile", run, as_json, wait_seconds)


def _print_survey(app: App, as_json: bool) -> None:
    from ..build.cleanup import survey

    found = survey(app.engine, app.storage)
    refusal = found.refusal(app.config.worker.max_delete_share)
    if as_json:
        emit(
            {
                "dry_run": True,
                "active_feeds": found.active,
                "objects": found.objects,
                "missing_feeds": len(found.missing_feeds),
                "missing_pages": len(found.missing_pages),
                "stray": [redact_key(key) for key in found.stray],
                "refusal": refusal,
            }
        )
        return
    click.echo(
        f"{found.active} active feed(s), {found.objects} feed object(s) in storage: would "
        f"rebuild and compare every feed, upload {len(found.missing_feeds)} missing feed(s) "
        f"and {len(found.missing_pages)} missing page(s), and delete {len(found.stray)} "
        "object(s) that no active feed owns"
    )
    for key in found.stray[:50]:
        click.echo(f"  delete {redact_key(key)}: no active feed owns it")
    if refusal is not None:
        click.echo(f"would refuse without --force: {refusal}")


@click.command()
@pass_app
@handle_errors
def worker(app: App) -> None:
    """Run the schedule: a cycle every worker.cycle_seconds, a reconcile at worker.reconcile_at."""
    from jobs.schedule import run_worker

    run_worker(app)


@click.command()
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many feeds to list (0: the counts alone).",
)
@click.option("--show-urls", is_flag=True, help="Print whole feed URLs (secret) and their links.")
@json_option
@pass_reader
@handle_errors
def status(app: App, limit: int, show_urls: bool, as_json: bool) -> None:
    """Show feeds, their last build and failures, pending deletions, the workers seen and the
    last runs; URLs shortened unless --show-urls."""
    from ..render.events import SERIALISER
    from ..state.status import feed_status

    app.check_tables()
    with app.engine.connect() as conn:
        summary, rows = feed_status(conn, limit, utc_now())
        workers_and_runs = liveness.status_lines(conn, utc_now())
        seen = liveness.status_documents(conn, utc_now()) if as_json else {}
    if as_json:
        emit(
            {
                "summary": summary,
                "serialiser": SERIALISER,
                "workers_and_runs": workers_and_runs,
                **seen,
                "feeds": [_row_document(app, row, show_urls) for row in rows],
            }
        )
        return
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
        print_feed(app, row.feed, calendar_name(app, row.feed.subject_kind, row.name), show_urls)


def _row_document(app: App, row: Any, show_urls: bool) -> dict[str, Any]:
    name = calendar_name(app, row.feed.subject_kind, row.name)
    return feed_document(app, row.feed, name, show_urls) | {
        "events": row.events,
        "size": row.size,
        "built_at": row.built_at,
        "last_error": row.error,
    }


COMMANDS = (build, cycle, reconcile, worker, status)
