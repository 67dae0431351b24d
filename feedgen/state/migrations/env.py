"""Alembic environment: runs against the engine feedgen hands over, only on feedgen's tables."""

# Absolute imports: Alembic runs this file as a script, not as a module of the package.

from __future__ import annotations

from alembic import context

from feedgen.state.migrations import VERSION_TABLE
from feedgen.state.tables import metadata

engine = context.config.attributes["engine"]


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Autogenerate must never see (and propose to drop) the CRM's tables.
    return type_ != "table" or bool(name and name.startswith("feedgen_"))


with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
