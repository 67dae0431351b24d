"""The operators' command line. Thin: each command parses options and calls the library."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from . import __version__, crm, feeds, liveness, migrations, runlock
from .app import App, now_utc, setup_logging
from .build import Builder
from .db import describe_error, require_current_schema
from .errors import (
    Busy,
    CleanupRefused,
    ConfigError,
    FeedgenError,
    FeedNotFound,
    NotPublished,
    SourceError,
    StateError,
    StorageError,
)
from .model import ActivityKind, FeedOptions, SubjectKind
from .report import RunReport
from .tokens import redact_key

# Named exit codes: scripts and the worker's supervisor can tell failures apart.
RET_OK = 0
RET_FEEDS_FAILED = 1
RET_USAGE = 2
RET_CONFIG = 3
RET_SOURCE = 4
RET_STORAGE = 5
RET_NOT_FOUND = 6
RET_STATE = 7
RET_BUSY = 8
RET_REFUSED = 9

_EXIT_CODES: dict[type[FeedgenError], int] = {
    CleanupRefused: RET_REFUSED,
    ConfigError: RET_CONFIG,
    SourceError: RET_SOURCE,
    StorageError: RET_STORAGE,
    FeedNotFound: RET_NOT_FOUND,
    StateError: RET_STATE,
    Busy: RET_BUSY,
}

F = TypeVar("F", bound=Callable[..., Any])


class FeedgenCliError(click.ClickException):
    def __init__(self, error: FeedgenError) -> None:
        super().__init__(str(error))
        self.exit_code = next(  # type: ignore[misc]
            (code for cls, code in _EXIT_CODES.items() if isinstance(error, cls)), 1
        )


def handle_errors(func: F) -> F:
    """Turn our errors into one line and an exit code: no traceback is a user interface."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FeedgenError as exc:
            raise FeedgenCliError(exc) from None
        except SQLAlchemyError as exc:  # the database went away (or refused) mid-command
            raise FeedgenCliError(SourceError(describe_error(exc))) from None

    return wrapper  # type: ignore[return-value]


pass_app = click.make_pass_decorator(App)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="FEEDGEN_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML configuration file (env FEEDGEN_CONFIG). Env FEEDGEN_<SECTION>_<KEY> overrides.",
)
@click.version_option(__version__, prog_name="feedgen")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Pre-rendered iCalendar feeds of CRM activities, published to object storage."""
    try:
        app = App.from_sources(config_path)
    except ConfigError as exc:
        raise FeedgenCliError(exc) from None
    setup_logging(app.config.logging.level)
    ctx.obj = app
    ctx.call_on_close(app.close)


# --- database ---------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """feedgen's own tables (feeds, builds): create and upgrade them."""


@db.command("upgrade")
@pass_app
@handle_errors
def db_upgrade(app: App) -> None:
    """Create or upgrade feedgen's tables in place (Alembic migrations)."""
    migrations.upgrade(app.engine)
    click.echo(f"feedgen tables at revision {migrations.current_revision(app.engine)}")


@db.command("status")
@pass_app
@handle_errors
def db_status(app: App) -> None:
    """Show the schema revision of feedgen's tables."""
    current = migrations.current_revision(app.engine)
    head = migrations.head_revision(app.engine)
    click.echo(f"current: {current or 'none'}  head: {head}")


# --- demo -------------------------------------------------------------------------------------


@cli.command()
@click.option("--users", default=40, show_default=True, help="How many demo users.")
@click.option("--teams", default=4, show_default=True, help="How many teams.")
@click.option("--activities-per-user", default=80, show_default=True)
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same CRM).")
@click.option("--reset", is_flag=True, help="Drop and recreate the CRM tables first.")
@pass_app
@handle_errors
def demo(
    app: App, users: int, teams: int, activities_per_user: int, seed: int, reset: bool
) -> None:
    """Seed a realistic demo CRM and issue a feed for every user and every team."""
    from .demo import DemoSpec, seed_crm
    from .feeds import issue_feed
    from .source import load_teams, load_users

    try:
        spec = DemoSpec(
            users=users, teams=teams, activities_per_user=activities_per_user, seed=seed
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if reset:
        _drop_state(app)
    counts = seed_crm(app.engine, spec, now=now_utc(), reset=reset)
    migrations.upgrade(app.engine)
    defaults = app.config.default_options()
    with app.engine.begin() as conn:
        for user in load_users(conn).values():
            if user.active:
                issue_feed(conn, SubjectKind.USER, user.id, now_utc(), defaults)
        for team in load_teams(conn).values():
            issue_feed(conn, SubjectKind.TEAM, team.id, now_utc(), defaults)
    click.echo(
        f"demo CRM: {counts.users} users, {counts.teams} teams, "
        f"{counts.total_activities} activities, {counts.participants} participants"
    )


def _drop_state(app: App) -> None:
    from .state import metadata

    metadata.drop_all(app.engine)
    with app.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {migrations.VERSION_TABLE}")


# --- feeds ------------------------------------------------------------------------------------


def subject_options(func: F) -> F:
    func = click.option("--team", "team_id", type=int, help="A team's overview feed.")(func)
    func = click.option("--user", "user_id", type=int, help="A user's feed.")(func)
    return func


def _subject(user_id: int | None, team_id: int | None) -> tuple[SubjectKind, int]:
    if (user_id is None) == (team_id is None):
        raise click.UsageError("name exactly one of --user ID or --team ID")
    if user_id is not None:
        return SubjectKind.USER, user_id
    assert team_id is not None
    return SubjectKind.TEAM, team_id


def option_flags(func: F) -> F:
    kinds = [k.value for k in ActivityKind if k != ActivityKind.NOTE]
    flags = [
        click.option("--kinds", help=f"Comma-separated kinds to show: {','.join(kinds)}."),
        click.option("--days-back", type=int, help="Days of the past to show."),
        click.option("--days-ahead", type=int, help="Days of the future to show."),
        click.option("--completed-tasks/--no-completed-tasks", default=None),
        click.option("--busy-only/--full-details", default=None, help="Show only 'Busy' blocks."),
        click.option("--show-emails/--hide-emails", default=None),
        click.option("--reminder", "reminder_minutes", type=int, help="Minutes; -1 for none."),
        click.option("--tasks-as-todo/--tasks-as-events", default=None),
    ]
    for flag in reversed(flags):
        func = flag(func)
    return func


def _options(base: FeedOptions, **given: Any) -> FeedOptions:
    changes = {k: v for k, v in given.items() if v is not None}
    if "kinds" in changes:
        changes["kinds"] = frozenset(k.strip() for k in changes["kinds"].split(",") if k.strip())
    if changes.get("reminder_minutes") == -1:
        changes["reminder_minutes"] = None
    try:
        return base.with_changes(**changes)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _print_feed(app: App, feed: Any, name: str, show_urls: bool = True) -> None:
    if not show_urls:
        click.echo(f"feed:  {_redacted(app.feed_url(feed))}")
        click.echo(f"page:  {_redacted(app.page_url(feed))}")
        return
    click.echo(f"feed:  {app.feed_url(feed)}")
    click.echo(f"page:  {app.page_url(feed)}")
    path = app.local_path(feed)
    if path:
        click.echo(f"file:  {path}")
    from .subscribe import cli_lines

    for line in cli_lines(app.links(feed, name)):
        click.echo(f"  {line}")


def _redacted(url: str) -> str:
    """A URL whose last part, the secret, is shortened to a few characters."""
    base, _, last = url.rpartition("/")
    return f"{base}/{redact_key(last)}"


def _published(app: App, call: Callable[[], Any], name_of: Callable[[], str]) -> None:
    """Run a lifecycle call and print the feed; when storing it failed, print it all the same
    (the change stands) and end with the error."""
    try:
        result = call()
    except NotPublished as exc:
        _print_feed(app, exc.feed, name_of())
        raise
    _print_feed(app, result, name_of())


def _subject_name(app: App, kind: SubjectKind, subject_id: int) -> str:
    """The calendar name of a subject's feed, as its subscribe links give it."""
    table = crm.users if kind == SubjectKind.USER else crm.teams
    with app.engine.connect() as conn:
        name = conn.execute(select(table.c.name).where(table.c.id == subject_id)).scalar()
    return _calendar_name(app, kind, name if name is not None else str(subject_id))


def _calendar_name(app: App, kind: SubjectKind, name: str) -> str:
    publish = app.config.publish
    template = publish.calendar_name if kind == SubjectKind.USER else publish.team_calendar_name
    return template.format(name=name)


@cli.group()
def feed() -> None:
    """Issue, show, rotate and revoke feed URLs; change a feed's options."""


@feed.command("issue")
@subject_options
@option_flags
@pass_app
@handle_errors
def feed_issue(app: App, /, user_id: int | None, team_id: int | None, **flags: Any) -> None:
    """Issue a feed (or show the one the subject has), store it, and print its links.

    The URL answers when this returns; if storing fails, the feed is issued all the same, the
    command exits 5 and the next cycle (or issuing again) stores it.
    """
    kind, subject_id = _subject(user_id, team_id)
    options = _options(app.config.default_options(), **flags)
    service = app.service()
    _published(
        app,
        lambda: service.issue(kind, subject_id, options),
        lambda: _subject_name(app, kind, subject_id),
    )


@feed.command("show")
@subject_options
@pass_app
@handle_errors
def feed_show(app: App, user_id: int | None, team_id: int | None) -> None:
    """Print the subject's feed URL, subscribe links and options."""
    require_current_schema(app.engine)
    kind, subject_id = _subject(user_id, team_id)
    with app.engine.connect() as conn:
        result = feeds.get_feed(conn, kind, subject_id)
    _print_feed(app, result, _subject_name(app, kind, subject_id))
    click.echo(f"options: {result.options.to_json()}")


@feed.command("rotate")
@subject_options
@pass_app
@handle_errors
def feed_rotate(app: App, user_id: int | None, team_id: int | None) -> None:
    """Give the subject a new URL: the old one is deleted (and purged from the CDN) and the new
    one stored before this returns."""
    kind, subject_id = _subject(user_id, team_id)
    service = app.service()
    _published(
        app, lambda: service.rotate(kind, subject_id), lambda: _subject_name(app, kind, subject_id)
    )


@feed.command("revoke")
@subject_options
@pass_app
@handle_errors
def feed_revoke(app: App, user_id: int | None, team_id: int | None) -> None:
    """End the subject's feed: its objects are deleted (and purged from the CDN) before this
    returns."""
    kind, subject_id = _subject(user_id, team_id)
    app.service().revoke(kind, subject_id)
    click.echo(f"revoked the feed of {kind} {subject_id}: its URL no longer answers")


@feed.command("options")
@subject_options
@option_flags
@pass_app
@handle_errors
def feed_options(app: App, /, user_id: int | None, team_id: int | None, **flags: Any) -> None:
    """Change a feed's options; the feed is stored with them before this returns."""
    kind, subject_id = _subject(user_id, team_id)
    service = app.service()
    current = service.get(kind, subject_id)
    result = service.set_options(kind, subject_id, _options(current.options, **flags))
    click.echo(f"options: {result.options.to_json()}")


# --- building ---------------------------------------------------------------------------------


def _finish(report: RunReport) -> None:
    click.echo(report.summary())
    # By cause, not by feed: a store that went away is one line, not one per feed.
    causes = report.causes()
    for cause, count in causes[:5]:
        click.echo(f"  {count} feed(s): {cause}", err=True)
    if len(causes) > 5:
        click.echo(f"  and {len(causes) - 5} more cause(s): `feedgen status` lists them", err=True)
    for message in report.storage_errors[:5]:
        click.echo(f"  {message} (retried later)", err=True)
    if report.errors or report.storage_errors:
        sys.exit(RET_FEEDS_FAILED)


def _run_job(app: App, kind: str, run: Callable[[Builder], RunReport]) -> None:
    def waiting(holder: str) -> None:
        click.echo(f"waiting up to {runlock.JOB_WAIT_SECONDS:g} s for {holder}", err=True)

    report, signals = app.run_job(kind, run, waiting)
    if signals.received is not None:
        click.echo(report.summary())
        click.echo(f"stopped by {signals.received.name}", err=True)
        sys.exit(signals.exit_code)
    _finish(report)


@cli.command()
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


@cli.command()
@pass_app
@handle_errors
def cycle(app: App) -> None:
    """Run one cycle now: rebuild the feeds that changed since the last one."""
    _run_job(app, "cycle", Builder.cycle)


@cli.command()
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
    from .cleanup import survey

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


@cli.command()
@pass_app
@handle_errors
def worker(app: App) -> None:
    """Run the schedule: a cycle every worker.cycle_minutes, a reconcile at worker.reconcile_at."""
    from jobs.schedule import run_worker

    run_worker(app)


@cli.command()
@click.option("--limit", default=10, show_default=True, help="How many feeds to list.")
@click.option("--show-urls", is_flag=True, help="Print whole feed URLs (secret) and their links.")
@pass_app
@handle_errors
def status(app: App, limit: int, show_urls: bool) -> None:
    """Show feeds, their last build and failures, pending deletions, the workers seen and the
    last runs; URLs shortened unless --show-urls."""
    from .render import SERIALISER
    from .status import feed_status

    require = app.builder  # checks schema and storage before reporting
    require()
    with app.engine.connect() as conn:
        summary, rows = feed_status(conn, limit, now_utc())
        workers_and_runs = liveness.status_lines(conn, now_utc())
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
