"""CI does not go green without PostgreSQL: a run whose PostgreSQL half was skipped fails there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.moto_server import free_port

ROOT = Path(__file__).resolve().parent.parent
# One test on both databases: its PostgreSQL half is skipped when no server answers.
ON_BOTH = "tests/state/test_migrations.py::test_a_new_feed_waits_for_a_full_build"


def run_pytest(ci: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["CI"] = ci
    env["FEEDGEN_TEST_PG_URL"] = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", ON_BOTH],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_under_ci_a_skipped_postgresql_half_fails_the_run_saying_so() -> None:
    result = run_pytest("true")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert "FAILED: CI=true and the PostgreSQL half of the suite was skipped" in result.stdout
    assert "1 passed, 1 skipped" in result.stdout


@pytest.mark.slow
def test_outside_ci_a_skipped_postgresql_half_is_a_note() -> None:
    result = run_pytest("")
    assert result.returncode == pytest.ExitCode.OK, result.stdout
    assert "NOTE: the PostgreSQL half of the suite was SKIPPED" in result.stdout
