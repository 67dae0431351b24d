"""The operators' command line. Thin: each command parses options, calls one library function and
turns our errors into one line and an exit code (``helpers``).

    admin   db upgrade, db status, demo
    feed    feed issue, show, rotate, revoke, options
    runs    build, cycle, reconcile, worker, status
"""

from __future__ import annotations

import click

from .. import __version__
from ..app import App
from ..errors import ConfigError
from ..logs import setup_logging
from . import admin, runs
from .feed import feed
from .helpers import FeedgenCliError


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


# Declared apart, one module per family of commands; attached to the group here.
for command in (admin.db, admin.demo, feed, *runs.COMMANDS):
    cli.add_command(command)
