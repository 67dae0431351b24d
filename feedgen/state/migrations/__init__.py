"""Alembic migrations of feedgen's own tables (``feedgen db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from ...errors import StateError

# Our own version table, so a CRM that uses Alembic itself keeps its alembic_version untouched.
VERSION_TABLE = "feedgen_alembic_version"
HERE = Path(__file__).parent


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def require_current_schema(engine: Engine) -> None:
    """Raise StateError unless feedgen's tables are at the migration head."""
    current, head = current_revision(engine), head_revision(engine)
    if current is None:
        raise StateError("feedgen's tables do not exist yet; run `feedgen db upgrade`")
    if current != head:
        raise StateError(
            f"feedgen's tables are at revision {current}, this version needs {head}; "
            "run `feedgen db upgrade`"
        )
