"""Fixtures of the command-line tests: a runner without FEEDGEN_* variables, a configuration on
SQLite and a local folder, the CRM's tables, and a CRM user with feedgen's tables upgraded."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from feedgen.cli.helpers import RET_OK
from feedgen.crm import tables as crm
from tests.cli.invoking import BASE_URL, invoke
from tests.conftest import NOW
from tests.factories import Crm


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner that sees no FEEDGEN_* variable of the environment the tests run in."""
    for name in list(os.environ):
        if name.startswith("FEEDGEN_"):
            monkeypatch.delenv(name)
    return CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "feedgen.toml"
    path.write_text(
        f"""
        [database]
        url = "sqlite:///{tmp_path / "crm.sqlite"}"
        [storage]
        url = "file://{tmp_path / "feeds"}"
        [publish]
        public_base_url = "{BASE_URL}"
        """,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def crm_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """The CRM's tables, as the CRM has them, before feedgen's own exist."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    crm.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def anna(crm_engine: sa.Engine, runner: CliRunner, config: Path) -> int:
    """A CRM user, with feedgen's tables upgraded."""
    user_id = Crm(crm_engine, NOW).user("Anna Schmidt", email="anna.schmidt@tesoro.example")
    assert invoke(runner, config, "db", "upgrade").exit_code == RET_OK
    return user_id
