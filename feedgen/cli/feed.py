"""The feed lifecycle: issue, show, rotate, revoke, options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import click

from ..app import App
from ..errors import NotPublished
from ..model import Feed, SubjectKind
from ..state import feeds
from ..state.migrations import require_current_schema
from .context import FeedgenGroup, json_option, pass_app, pass_reader
from .helpers import (
    FeedgenCliError,
    _options,
    _subject,
    handle_errors,
    known_subject,
    option_flags,
    subject_options,
)
from .output import emit, feed_document, print_feed, subject_name


@click.group(cls=FeedgenGroup)
def feed() -> None:
    """Issue, show, rotate and revoke feed URLs; change a feed's options."""


def _checked_subject(app: App, user_id: int | None, team_id: int | None) -> tuple[SubjectKind, int]:
    """The subject named by --user/--team, which the CRM (or an active feed) must know."""
    kind, subject_id = _subject(user_id, team_id)
    require_current_schema(app.engine)
    with app.engine.connect() as conn:
        known_subject(conn, kind, subject_id)
    return kind, subject_id


@feed.command("issue")
@subject_options
@option_flags
@json_option
@pass_app
@handle_errors
def feed_issue(
    app: App, /, user_id: int | None, team_id: int | None, as_json: bool, **flags: Any
) -> None:
    """Issue a feed (or show the one the subject has), store it, and print its links.

    The URL answers when this returns; if storing fails, the feed is issued all the same, the
    command exits 5 and the next cycle (or issuing again) stores it.
    """
    kind, subject_id = _checked_subject(app, user_id, team_id)
    options = _options(app.config.default_options(), **flags)
    service = app.service()
    _published(app, lambda: service.issue(kind, subject_id, options), kind, subject_id, as_json)


@feed.command("show")
@subject_options
@json_option
@pass_reader
@handle_errors
def feed_show(app: App, user_id: int | None, team_id: int | None, as_json: bool) -> None:
    """Print the subject's feed URL, subscribe links and options."""
    kind, subject_id = _checked_subject(app, user_id, team_id)
    with app.engine.connect() as conn:
        result = feeds.get_feed(conn, kind, subject_id)
    name = subject_name(app, kind, subject_id)
    if as_json:
        emit(feed_document(app, result, name))
        return
    print_feed(app, result, name)
    click.echo(f"options: {result.options.to_json()}")


@feed.command("rotate")
@subject_options
@json_option
@pass_app
@handle_errors
def feed_rotate(app: App, user_id: int | None, team_id: int | None, as_json: bool) -> None:
    """Give the subject a new URL: the old one is deleted (and purged from the CDN) and the new
    one stored before this returns."""
    kind, subject_id = _checked_subject(app, user_id, team_id)
    service = app.service()
    _published(app, lambda: service.rotate(kind, subject_id), kind, subject_id, as_json)


@feed.command("revoke")
@subject_options
@json_option
@pass_app
@handle_errors
def feed_revoke(app: App, user_id: int | None, team_id: int | None, as_json: bool) -> None:
    """End the subject's feed: its objects are deleted (and purged from the CDN) before this
    returns."""
    kind, subject_id = _checked_subject(app, user_id, team_id)
    app.service().revoke(kind, subject_id)
    if as_json:
        emit({"kind": str(kind), "subject_id": subject_id, "revoked": True})
        return
    click.echo(f"revoked the feed of {kind} {subject_id}: its URL no longer answers")


@feed.command("options")
@subject_options
@option_flags
@json_option
@pass_app
@handle_errors
def feed_options(
    app: App, /, user_id: int | None, team_id: int | None, as_json: bool, **flags: Any
) -> None:
    """Change a feed's options; the feed is stored with them before this returns."""
    kind, subject_id = _checked_subject(app, user_id, team_id)
    service = app.service()
    current = service.get(kind, subject_id)
    changed = _options(current.options, **flags)

    def store() -> Feed:
        return service.set_options(kind, subject_id, changed)

    if as_json:  # the whole feed, its options included
        _published(app, store, kind, subject_id, as_json)
        return
    click.echo(f"options: {store().options.to_json()}")


def _published(
    app: App, call: Callable[[], Feed], kind: SubjectKind, subject_id: int, as_json: bool
) -> None:
    """Run a lifecycle call and print the feed; when storing it failed, print it all the same
    (the change stands) and end with the error; in JSON, the error object holds the feed."""
    try:
        result = call()
    except NotPublished as exc:
        issued, name = cast(Feed, exc.feed), subject_name(app, kind, subject_id)
        if as_json:
            raise FeedgenCliError(exc, {"feed": feed_document(app, issued, name)}) from None
        print_feed(app, issued, name)
        raise
    name = subject_name(app, kind, subject_id)
    if as_json:
        emit(feed_document(app, result, name))
    else:
        print_feed(app, result, name)
