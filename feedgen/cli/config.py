"""``config show`` (the effective settings, secrets masked) and ``config check`` (the file and
every connection it names, one line each). Neither creates a file, a folder or a table."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import asdict
from datetime import time
from typing import Any

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ..app import App, missing_sqlite_file
from ..config import CONFIG_ENV, ENV_PREFIX, Config
from ..crm.tables import check_schema
from ..db import describe_error, open_engine
from ..errors import FeedgenError, SourceError, StorageError
from ..publish.storage import open_storage
from ..state.migrations import require_current_schema
from .context import FeedgenGroup, Session, pass_session
from .helpers import FeedgenCliError, handle_errors

# A storage key no feed can have (not token-shaped, so reconcile never counts it as a feed's),
# beside robots.txt: written and deleted again by `config check`.
PROBE_KEY = "robots.txt.feedgen-check"

# Keys whose values are masked by `config show`, whatever the section.
SECRET = re.compile(r"(password|secret|token|key)$", re.IGNORECASE)


@click.group(cls=FeedgenGroup)
def config() -> None:
    """Show the effective settings; check the file and the connections it names."""


@config.command("show")
@pass_session
@handle_errors
def config_show(session: Session) -> None:
    """Print the effective settings (file, then FEEDGEN_* overrides, then defaults) as TOML,
    secrets masked; a comment says where each value came from."""
    app = session.app(read_only=True)
    path = session.config_path or os.environ.get(CONFIG_ENV)
    from_file = _read(path)
    for section, values in asdict(app.config).items():
        click.echo(f"[{section}]")
        for key, value in values.items():
            if f"{ENV_PREFIX}{section}_{key}".upper() in os.environ:
                source = "env"
            elif key in from_file.get(section, {}):
                source = "file"
            else:
                source = "default"
            shown = _toml(_masked(section, key, value))
            click.echo(f"{key} = {shown}  # {source}" if value is not None else f"# {key} unset")
        click.echo("")


def _read(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    with open(path, "rb") as handle:  # already read once by App: it parses
        return tomllib.load(handle)


def _masked(section: str, key: str, value: Any) -> Any:
    if (section, key) == ("database", "url"):
        return make_url(value).render_as_string(hide_password=True)
    if SECRET.search(key) and value:
        return "***"
    return value


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, time):
        return f'"{value:%H:%M}"'
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


@config.command("check")
@pass_session
def config_check(session: Session) -> None:
    """Check the file, the database, feedgen's tables, storage (writes and deletes a probe
    object) and the CDN; one line each, exit code of the first failure."""
    try:
        app = session.app(read_only=True)
    except FeedgenCliError as exc:
        click.echo(f"✗ configuration: {exc.format_message()}")
        raise
    path = session.config_path or os.environ.get(CONFIG_ENV)
    click.echo(f"✓ configuration: {path or 'defaults'} parses")
    failures: list[FeedgenError] = []

    def step(label: str, check: Callable[[], str]) -> bool:
        try:
            click.echo(f"✓ {label}: {check()}")
            return True
        except (FeedgenError, SQLAlchemyError) as exc:
            error = SourceError(describe_error(exc)) if isinstance(exc, SQLAlchemyError) else exc
            click.echo(f"✗ {label}: {error}")
            failures.append(error)
            return False

    if step("database", lambda: _database(app)):
        step("tables", lambda: _tables(app))
    else:
        click.echo("- tables: not checked (no database)")
    step("storage", lambda: _storage(app.config))
    step("CDN", lambda: _cdn(app.config))
    if failures:
        raise FeedgenCliError(failures[0])


def _database(app: App) -> str:
    url = app.config.database.url
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise SourceError(f"no CRM database at {missing} (database.url)")
    open_engine(url).dispose()  # raises SourceError naming the URL without its password
    return f"{make_url(url).render_as_string(hide_password=True)} answers"


def _tables(app: App) -> str:
    with app.engine.connect() as conn:
        check_schema(conn)
    require_current_schema(app.engine)
    return "the CRM's tables match the contract, feedgen's are current"


def _storage(config: Config) -> str:
    url = config.storage.url
    if url.startswith("file://"):
        root = url.removeprefix("file://")
        if not os.path.isdir(root):
            raise StorageError(f"the storage folder {root} does not exist (storage.url)")
    storage = open_storage(config.storage)
    try:
        storage.check()
        storage.put(
            PROBE_KEY,
            b"feedgen config check\n",
            content_type="text/plain",
            cache_control="no-store",
        )
        storage.delete(PROBE_KEY)
    finally:
        storage.close()
    return f"{url} writable (wrote and deleted {PROBE_KEY})"


def _cdn(config: Config) -> str:
    distribution = config.cdn.cloudfront_distribution_id
    if distribution is None:
        return "not configured"
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.session.Session().client("cloudfront")
        status = client.get_distribution(Id=distribution)["Distribution"]["Status"]
    except (BotoCoreError, ClientError) as exc:
        raise StorageError(
            f"CloudFront distribution {distribution} cannot be read: {exc} "
            "(cdn.cloudfront_distribution_id)"
        ) from None
    return f"CloudFront distribution {distribution} reachable ({status})"
