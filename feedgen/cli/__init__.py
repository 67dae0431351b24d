"""The operators' command line. Thin: each command parses options, calls one library function and
turns our errors into one line and an exit code, its results into text or one JSON document.

    admin    db upgrade, db status, demo
    config   config show, config check
    feed     feed issue, show, rotate, revoke, options
    runs     build, cycle, reconcile, worker, status

    context  the shared options (--config, -v, --log-format) and the App, opened lazily
    helpers  exit codes, one-line errors, --user/--team and the feed option flags
    output   feeds and run reports as text or JSON
    running  a build job: the SQLite wait, the progress bar, the exit code
    plan     build --dry-run: which feeds a build would rebuild and why
"""

from __future__ import annotations

import click

from .. import __version__
from . import admin, runs
from .config import config
from .context import RootGroup
from .feed import feed

__all__ = ["cli"]


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="feedgen")
def cli() -> None:
    """Pre-rendered iCalendar feeds of CRM activities, published to object storage."""


# Declared apart, one module per family of commands; attached to the group here.
for command in (admin.db, admin.demo, config, feed, *runs.COMMANDS):
    cli.add_command(command)
