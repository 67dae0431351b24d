"""What the commands print: a feed, a run's report, as text lines or as one JSON document.

The JSON documents' keys are stable and listed in the README ("Command line"); a key is only
ever added.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click
from sqlalchemy import select

from ..app import App
from ..build.report import RunReport
from ..crm import tables as crm
from ..model import Feed, SubjectKind
from ..publish.pages import cli_lines
from ..tokens import redact_key


def emit(document: dict[str, Any]) -> None:
    """The one JSON document a --json command prints on stdout."""
    click.echo(json.dumps(document, sort_keys=True, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def subject_name(app: App, kind: SubjectKind, subject_id: int) -> str:
    """The calendar name of a subject's feed, as its subscribe links give it."""
    table = crm.users if kind == SubjectKind.USER else crm.teams
    with app.engine.connect() as conn:
        name = conn.execute(select(table.c.name).where(table.c.id == subject_id)).scalar()
    return calendar_name(app, kind, name if name is not None else str(subject_id))


def calendar_name(app: App, kind: SubjectKind, name: str) -> str:
    publish = app.config.publish
    template = publish.calendar_name if kind == SubjectKind.USER else publish.team_calendar_name
    return template.format(name=name)


def print_feed(app: App, feed: Feed, name: str, show_urls: bool = True) -> None:
    if not show_urls:
        click.echo(f"feed:  {redacted(app.feed_url(feed))}")
        click.echo(f"page:  {redacted(app.page_url(feed))}")
        return
    click.echo(f"feed:  {app.feed_url(feed)}")
    click.echo(f"page:  {app.page_url(feed)}")
    path = app.local_path(feed)
    if path:
        click.echo(f"file:  {path}")
    for line in cli_lines(app.links(feed, name)):
        click.echo(f"  {line}")


def feed_document(app: App, feed: Feed, name: str, show_urls: bool = True) -> dict[str, Any]:
    """A feed as JSON: whole URLs (the caller hands them to the user) unless ``show_urls`` is
    off, when URLs are shortened and the links left out."""
    document: dict[str, Any] = {
        "kind": str(feed.subject_kind),
        "subject_id": feed.subject_id,
        "name": name,
        "created_at": feed.created_at,
        "rotated_at": feed.rotated_at,
        "options": json.loads(feed.options.to_json()),
    }
    if not show_urls:
        shortened = {
            "feed_url": redacted(app.feed_url(feed)),
            "page_url": redacted(app.page_url(feed)),
        }
        return document | shortened | {"file": None, "links": None}
    links = asdict(app.links(feed, name))
    links.pop("feed_url")
    document |= {
        "feed_url": app.feed_url(feed),
        "page_url": app.page_url(feed),
        "file": app.local_path(feed),
        "links": links,
    }
    return document


def redacted(url: str) -> str:
    """A URL whose last part, the secret, is shortened to a few characters."""
    base, _, last = url.rpartition("/")
    return f"{base}/{redact_key(last)}"


def report_document(report: RunReport) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "feeds_built": report.feeds_built,
        "feeds_uploaded": report.uploaded,
        "pages_uploaded": report.pages_uploaded,
        "unchanged": report.unchanged,
        "failed": report.failed,
        "patched": report.patched,
        "events": report.events,
        "bytes_uploaded": report.bytes_uploaded,
        "deleted": report.deleted,
        "skipped_activities": report.skipped_activities,
        "seconds": round(report.seconds, 3),
        "stopped": report.stopped,
        "causes": [{"cause": cause, "feeds": count} for cause, count in report.causes()],
        "storage_errors": list(report.storage_errors),
    }


def print_report(report: RunReport) -> None:
    click.echo(report.summary())
    # By cause, not by feed: a store that went away is one line, not one per feed.
    causes = report.causes()
    for cause, count in causes[:5]:
        click.echo(f"  {count} feed(s): {cause}", err=True)
    if len(causes) > 5:
        click.echo(f"  and {len(causes) - 5} more cause(s): `feedgen status` lists them", err=True)
    for message in report.storage_errors[:5]:
        click.echo(f"  {message} (retried later)", err=True)
