"""The feed lifecycle: issue, show, rotate, revoke, options."""

from __future__ import annotations

from typing import Any

import click

from ..app import App
from ..state import feeds
from ..state.migrations import require_current_schema
from .helpers import (
    _options,
    _print_feed,
    _published,
    _subject,
    _subject_name,
    handle_errors,
    option_flags,
    pass_app,
    subject_options,
)


@click.group()
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
