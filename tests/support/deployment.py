"""A feedgen deployment for tests with real processes: a config file, a demo CRM, a store, and
`feedgen` commands and workers run as an operator runs them (signals, exit codes, logs)."""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import sqlalchemy as sa

from feedgen.config import Config, load_config
from feedgen.db import open_engine
from feedgen.publish.storage import Storage, open_storage
from feedgen.state.feeds import active_feeds
from tests.support.clean import differences

ROOT = Path(__file__).resolve().parents[2]
# A small demo CRM: a full rebuild is 7 batches of 5 feeds.
DEMO = ("--users", "30", "--teams", "2", "--activities-per-user", "20")
RENAMED = " (renamed)"
# tgkill(2)'s number: Python can send a signal to a thread of its own process only.
TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine())


@dataclass
class Deployment:
    root: Path
    database_url: str
    storage_url: str = ""
    worker: dict[str, object] = field(default_factory=dict)
    storage_keys: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    renamed_at: int = 0

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # One process unless a test asks for more: the tests count the batches a stop leaves.
        worker = {"batch_size": 5, "cycle_seconds": 3600, "processes": 1, **self.worker}
        storage = {"url": self.storage_url, **self.storage_keys}
        self.config_path.write_text(
            f'[database]\nurl = "{self.database_url}"\n'
            + "[storage]\n"
            + "".join(f'{k} = "{v}"\n' for k, v in storage.items())
            + '[publish]\npublic_base_url = "https://cal.tesoro.example"\n'
            + "[worker]\n"
            + "".join(f"{k} = {v}\n" for k, v in worker.items()),
            encoding="utf-8",
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FEEDGEN_")},
            **self.env,
        }

    @property
    def config_path(self) -> Path:
        return self.root / "feedgen.toml"

    @cached_property
    def config(self) -> Config:
        return load_config(self.config_path, self.env)

    @cached_property
    def engine(self) -> sa.Engine:
        return open_engine(self.database_url)

    @cached_property
    def storage(self) -> Storage:
        return open_storage(self.config.storage)

    def close(self) -> None:
        for process in self.processes:
            process.kill()
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "storage" in self.__dict__:
            self.storage.close()

    # --- processes ----------------------------------------------------------------------------

    def feedgen(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "feedgen", "--config", str(self.config_path), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str, module: str = "feedgen", name: str = "worker") -> Process:
        """Start ``python -m module --config ... args`` with its output in a log file."""
        log = self.root / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", module, "--config", str(self.config_path), *args],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(Process(process, log))
        return self.processes[-1]

    def start_worker(self, name: str = "worker") -> Process:
        return self.start("worker", name=name)

    # --- the CRM and the store ----------------------------------------------------------------

    def rename_users(self) -> None:
        """Rename every user, as a CRM import would: the next cycle rebuilds every feed."""
        self.renamed_at = time.time_ns()
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE users SET name = name || '{RENAMED}'"))

    def tokens(self) -> list[str]:
        with self.engine.connect() as conn:
            return [feed.token for feed in active_feeds(conn)]

    def objects(self, suffix: str = ".ics") -> list[str]:
        return [key for key in self.storage.list_keys() if key.endswith(suffix)]

    def renamed_feeds(self) -> int:
        return sum(RENAMED.encode() in (self.storage.get(k) or b"") for k in self.objects())

    def rebuilt(self) -> bool:
        """Whether a feed was written since ``rename_users`` (a file store): cheap to poll."""
        folder = Path(self.config.storage.url.removeprefix("file://"))
        with os.scandir(folder) as entries:
            return any(
                e.name.endswith(".ics") and e.stat().st_mtime_ns > self.renamed_at for e in entries
            )

    def differences(self) -> list[str]:
        """How the store differs from a clean build of today's feeds; empty when it is one."""
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        return differences(self.engine, self.storage, self.config, now)


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    log_path: Path
    frozen: bool = False

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(
        self, ready: Callable[[], object], what: str, timeout: float = 60, freeze: bool = False
    ) -> None:
        """Poll until ``ready()`` is true; fail naming ``what`` if the process ends first.

        ``freeze`` stops the process (SIGSTOP) the moment it is: whatever it was doing is still
        under way when the test sends its signal, however slow the test machine.
        """
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                code = self.process.returncode
                raise AssertionError(f"exited ({code}) before {what}:\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout:g} s:\n{self.log}")
            time.sleep(0.02)
        if freeze:
            self.process.send_signal(signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            self.process.send_signal(signal.SIGCONT)
            self.frozen = False

    def wait_for_line(self, text: str, timeout: float = 60) -> None:
        self.wait_for(lambda: text in self.log, repr(text), timeout)

    def signal(self, number: signal.Signals) -> None:
        self.process.send_signal(number)

    def signal_other_thread(self, number: signal.Signals) -> None:
        """Send ``number`` to one of the process's threads other than the main one, as the kernel
        may hand it a signal sent to the process."""
        pid = self.process.pid
        threads = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
        assert threads, f"process {pid} runs no thread besides the main one"
        assert TGKILL is not None, f"tgkill's number on {platform.machine()} is not known"
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(TGKILL, pid, threads[-1], int(number)) != 0:
            raise OSError(ctypes.get_errno(), f"tgkill({pid}, {threads[-1]}, {number.name})")

    def stopped_within(self, number: signal.Signals, timeout: float) -> tuple[int, float]:
        """Send ``number``; return the exit code and the seconds it took to exit."""
        sent = time.monotonic()
        self.process.send_signal(number)
        self.thaw()  # a stopped process takes the signal when it goes on
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            message = f"still running {timeout:g} s after {number.name}:\n{self.log}"
            raise AssertionError(message) from None
        return code, time.monotonic() - sent

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
