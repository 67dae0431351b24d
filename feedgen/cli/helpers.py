"""What the commands share: exit codes, one-line errors, the subject (--user/--team) checked
against the CRM, and the feed option flags with their valid values."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError

from ..crm import tables as crm
from ..db import describe_error
from ..errors import (
    Busy,
    CleanupRefused,
    ConfigError,
    FeedgenError,
    FeedNotFound,
    SourceError,
    StateError,
    StorageError,
)
from ..model import EXPORTABLE_KINDS, ActivityKind, FeedOptions, SubjectKind
from ..state import tables as state

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
    """One of our errors as one line and its exit code; ``details`` go into the JSON error
    object (the feed a failed store still issued)."""

    def __init__(self, error: FeedgenError, details: dict[str, Any] | None = None) -> None:
        super().__init__(str(error))
        self.exit_code = next(  # type: ignore[misc]
            (code for cls, code in _EXIT_CODES.items() if isinstance(error, cls)), 1
        )
        self.details = details or {}


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


def subject_options(func: F) -> F:
    ids = click.IntRange(min=1)
    func = click.option("--team", "team_id", type=ids, help="A team's overview feed.")(func)
    func = click.option("--user", "user_id", type=ids, help="A user's feed.")(func)
    return func


def _subject(user_id: int | None, team_id: int | None) -> tuple[SubjectKind, int]:
    if (user_id is None) == (team_id is None):
        raise click.UsageError("name exactly one of --user ID or --team ID")
    if user_id is not None:
        return SubjectKind.USER, user_id
    assert team_id is not None
    return SubjectKind.TEAM, team_id


def known_subject(conn: Connection, kind: SubjectKind, subject_id: int) -> None:
    """Raise FeedNotFound ("no user 9999 in the CRM") unless the CRM holds the subject or it has
    an active feed (a user deleted from the CRM keeps one until it is revoked)."""
    table = crm.users if kind == SubjectKind.USER else crm.teams
    if conn.execute(select(table.c.id).where(table.c.id == subject_id)).first() is not None:
        return
    f = state.feeds
    feed = conn.execute(
        select(f.c.id).where(
            f.c.subject_kind == kind.value, f.c.subject_id == subject_id, f.c.revoked_at.is_(None)
        )
    ).first()
    if feed is None:
        raise FeedNotFound(f"no {kind} {subject_id} in the CRM")


# Kinds a feed can show, in the order the help and errors list them.
KINDS = sorted(EXPORTABLE_KINDS, key=list(ActivityKind).index)


class KindList(click.ParamType[frozenset[str]]):
    """A comma-separated list of activity kinds; an unknown one is named with the valid ones."""

    name = "KINDS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, frozenset):
            return value
        valid = [kind.value for kind in KINDS]
        given = [part.strip() for part in str(value).split(",") if part.strip()]
        unknown = [part for part in given if part not in valid]
        if unknown or not given:
            what = f"unknown kind(s) {', '.join(map(repr, unknown))}" if unknown else "no kind"
            self.fail(f"{what}; choose from {', '.join(valid)}", param, ctx)
        return frozenset(given)


def option_flags(func: F) -> F:
    days = click.IntRange(0, 3660)
    flags = [
        click.option(
            "--kinds",
            type=KindList(),
            help=f"Comma-separated kinds to show: {','.join(k.value for k in KINDS)}.",
        ),
        click.option("--days-back", type=days, help="Days of the past to show (0-3660)."),
        click.option("--days-ahead", type=days, help="Days of the future to show (0-3660)."),
        click.option("--completed-tasks/--no-completed-tasks", default=None),
        click.option("--busy-only/--full-details", default=None, help="Show only 'Busy' blocks."),
        click.option("--show-emails/--hide-emails", default=None),
        click.option(
            "--reminder",
            "reminder_minutes",
            type=click.IntRange(-1, 40320),
            help="Minutes before each event (0-40320); -1 for none.",
        ),
        click.option("--tasks-as-todo/--tasks-as-events", default=None),
    ]
    for flag in reversed(flags):
        func = flag(func)
    return func


def _options(base: FeedOptions, **given: Any) -> FeedOptions:
    changes = {k: v for k, v in given.items() if v is not None}
    if changes.get("reminder_minutes") == -1:
        changes["reminder_minutes"] = None
    try:
        return base.with_changes(**changes)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
