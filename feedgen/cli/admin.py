"""feedgen's own tables (db upgrade, db status) and the demo CRM."""

from __future__ import annotations

import click

from ..app import App
from ..demo.data import DemoSpec
from ..demo.setup import set_up_demo
from ..state import migrations
from .context import FeedgenGroup, pass_app, pass_reader
from .helpers import handle_errors


@click.group(cls=FeedgenGroup)
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
@pass_reader
@handle_errors
def db_status(app: App) -> None:
    """Show the schema revision of feedgen's tables."""
    current = migrations.current_revision(app.engine)
    head = migrations.head_revision(app.engine)
    click.echo(f"current: {current or 'none'}  head: {head}")


@click.command()
@click.option(
    "--users",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="How many demo users.",
)
@click.option(
    "--teams", type=click.IntRange(min=0), default=4, show_default=True, help="How many teams."
)
@click.option("--activities-per-user", type=click.IntRange(min=0), default=80, show_default=True)
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same CRM).")
@click.option("--reset", is_flag=True, help="Drop and recreate the CRM tables first.")
@pass_app
@handle_errors
def demo(
    app: App, users: int, teams: int, activities_per_user: int, seed: int, reset: bool
) -> None:
    """Seed a realistic demo CRM and issue a feed for every user and every team."""
    try:
        spec = DemoSpec(
            users=users, teams=teams, activities_per_user=activities_per_user, seed=seed
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    counts = set_up_demo(app.engine, spec, app.config.default_options(), reset)
    click.echo(
        f"demo CRM: {counts.users} users, {counts.teams} teams, "
        f"{counts.total_activities} activities, {counts.participants} participants"
    )
