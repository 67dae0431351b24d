"""The deployment files give a stop more time than the worker ever takes (worker.stop_seconds)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from feedgen.config import WorkerConfig

ROOT = Path(__file__).resolve().parent.parent
STOP_SECONDS = WorkerConfig().stop_seconds


def test_systemd_waits_longer_than_a_stop_takes() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "deploy/systemd/feedgen-worker.service")
    service = unit["Service"]
    assert int(service["TimeoutStopSec"]) > STOP_SECONDS
    assert service["ExecStart"].endswith("feedgen worker")
    assert service["KillMode"] == "mixed"  # SIGTERM to the worker, not its render processes
    assert set(service["RestartPreventExitStatus"].split()) == {"3", "7", "8"}


def test_kubernetes_waits_longer_than_a_stop_takes() -> None:
    yaml = pytest.importorskip("yaml")
    deployment = yaml.safe_load((ROOT / "deploy/kubernetes/worker.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > STOP_SECONDS
    assert pod["containers"][0]["command"] == ["feedgen", "worker"]


def test_the_readme_states_the_bound_the_files_ship() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"never later than `worker.stop_seconds` ({STOP_SECONDS} s)" in readme
    assert "`TimeoutStopSec=45`" in readme and "`terminationGracePeriodSeconds: 45`" in readme
