"""What the commands share: exit codes, one-line errors, subject and option flags, printing a
feed, running a build job."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ..app import App
from ..build import Builder
from ..build.report import RunReport
from ..crm import tables as crm
from ..db import describe_error
from ..errors import (
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
from ..model import ActivityKind, FeedOptions, SubjectKind
from ..state import runlock
from ..tokens import redact_key

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
    from ..publish.pages import cli_lines

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
