"""The systemd units: systemd itself accepts them and rates their sandbox OK, they run real
feedgen commands, and they give a stop more time than the worker ever takes. Also the check of
the configuration keys every deployment file names."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedgen.cli import cli
from feedgen.cli.helpers import RET_BUSY
from feedgen.config import WorkerConfig
from feedgen.errors import ConfigError
from tests.support.deploy_files import check_config, unknown_env

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy/systemd"
UNITS = sorted(path.name for path in SYSTEMD.iterdir())
SERVICES = [name for name in UNITS if name.endswith(".service")]
TIMERS = [name for name in UNITS if name.endswith(".timer")]
STOP_SECONDS = WorkerConfig().stop_seconds
INSTALLED = "/opt/feedgen/bin/feedgen"
MOST_EXPOSURE = 2.5  # systemd-analyze security: up to 3.9 is "OK"; the units score about 1.1

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here"
)


def directives(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit's sections -> directive -> values in order (a directive may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] = {}
    for line in (SYSTEMD / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            section.setdefault(key, []).append(value)
    return sections


def service(name: str) -> dict[str, str]:
    """The [Service] section, each directive's last value."""
    return {key: values[-1] for key, values in directives(name)["Service"].items()}


def installable_copy(folder: Path) -> Path:
    """The units with ExecStart pointing at this environment's feedgen instead of /opt/feedgen
    (systemd-analyze verify checks that the command exists and is executable)."""
    feedgen = Path(sys.executable).parent / "feedgen"
    assert feedgen.is_file(), f"no feedgen script beside {sys.executable}"
    for name in UNITS:
        text = (SYSTEMD / name).read_text(encoding="utf-8")
        (folder / name).write_text(text.replace(INSTALLED, str(feedgen)), encoding="utf-8")
    return folder


@needs_systemd_analyze
@pytest.mark.parametrize("name", UNITS)
def test_systemd_accepts_the_unit(name: str, tmp_path: Path) -> None:
    folder = installable_copy(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(folder / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 on an unknown directive or a bad value, and says so on stderr.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@needs_systemd_analyze
@pytest.mark.parametrize("name", SERVICES)
def test_systemd_rates_the_sandbox_ok(name: str, tmp_path: Path) -> None:
    folder = installable_copy(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(folder / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", done.stdout)
    assert found, done.stdout[-2000:] + done.stderr
    assert float(found[1]) <= MOST_EXPOSURE and found[2] == "OK", found[0]


def test_every_service_has_the_same_sandbox() -> None:
    def sandbox(name: str) -> list[str]:
        text = (SYSTEMD / name).read_text(encoding="utf-8")
        block = text[text.index("UMask=") :].partition("\n[")[0]
        return [line for line in block.splitlines() if "=" in line]

    assert len(sandbox("feedgen-worker.service")) > 20
    for name in SERVICES:
        assert sandbox(name) == sandbox("feedgen-worker.service"), name


@pytest.mark.parametrize("name", SERVICES)
def test_the_services_run_feedgen_commands_as_its_own_user(name: str) -> None:
    settings = service(name)
    program, config_flag, config, *command = settings["ExecStart"].split()
    assert (program, config_flag, config) == (INSTALLED, "--config", "/etc/feedgen/config.toml")
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert (settings["User"], settings["StateDirectory"]) == ("feedgen", "feedgen")
    assert settings["EnvironmentFile"] == "-/etc/feedgen/env"  # secrets; "-": optional


@pytest.mark.parametrize("name", TIMERS)
def test_each_timer_starts_a_one_shot_service_of_its_name(name: str) -> None:
    target = name.replace(".timer", ".service")
    assert target in SERVICES
    assert service(target)["Type"] == "oneshot"
    assert directives(name)["Install"]["WantedBy"] == ["timers.target"]


def test_the_timers_keep_the_worker_schedule_as_closely_as_processes_allow() -> None:
    defaults = WorkerConfig()
    cycle = directives("feedgen-cycle.timer")["Timer"]
    assert defaults.cycle_seconds < 60  # a process a minute is the finest a timer is worth
    assert cycle["OnUnitActiveSec"] == ["1min"]
    reconcile = directives("feedgen-reconcile.timer")["Timer"]
    assert reconcile["OnCalendar"] == [f"*-*-* {defaults.reconcile_at:%H:%M}:00 UTC"]


def test_systemd_waits_longer_than_a_stop_takes() -> None:
    settings = service("feedgen-worker.service")
    assert int(settings["TimeoutStopSec"]) > STOP_SECONDS
    assert settings["KillMode"] == "mixed"  # SIGTERM to the worker, not its render processes
    assert set(settings["RestartPreventExitStatus"].split()) == {"3", "7", "8"}
    assert settings["Restart"] == "always"


def test_on_sqlite_a_cycle_skips_a_held_minute_and_the_reconcile_waits_its_turn() -> None:
    assert service("feedgen-cycle.service")["SuccessExitStatus"] == str(RET_BUSY)
    command = service("feedgen-reconcile.service")["ExecStart"].split()
    assert float(command[command.index("--wait") + 1]) >= 3600


def test_the_readme_states_the_bound_the_files_ship() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"never later than `worker.stop_seconds` ({STOP_SECONDS} s)" in readme
    assert "`TimeoutStopSec=45`" in readme and "`terminationGracePeriodSeconds: 45`" in readme


# --- the keys the deployment files may name (tests/support/deploy_files.py) -------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[worker]\nprocesess = 2\n", "worker.procesess"),
        ("[metrix]\nport = 9464\n", "metrix"),
        ("[worker]\nprocesses = 0\n", "worker.processes"),
        ('[logging]\nformat = "json"\nlevel = "LOUD"\n', "logging.level"),
    ],
)
def test_a_shipped_configuration_with_a_wrong_key_or_value_fails(
    text: str, named: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_config(text, tmp_path)
    assert caught.value.key == named


def test_the_metrics_and_log_format_keys_are_accepted(tmp_path: Path) -> None:
    text = '[metrics]\nport = 9464\naddress = "0.0.0.0"\nunhealthy_after_cycles = 3\n'
    config, raw = check_config(text + '[logging]\nformat = "json"\n', tmp_path)
    assert raw["metrics"]["port"] == 9464 and config.logging.level == "INFO"
    names = ["FEEDGEN_METRICS_PORT", "FEEDGEN_LOGGING_FORMAT", "FEEDGEN_CONFIG", "AWS_REGION"]
    assert unknown_env(names + ["FEEDGEN_DATABASE_URL", "FEEDGEN_METRICS_PROT"]) == [
        "FEEDGEN_METRICS_PROT"
    ]
