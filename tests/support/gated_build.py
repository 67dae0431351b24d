"""``feedgen cycle`` in a process of its own whose calendar uploads wait at a gate: a worker
caught in the middle of publishing, for races with the CLI.

    python -m tests.support.gated_build CONFIG GATE ARRIVED

Each ``.ics`` upload touches ARRIVED, then waits (at most a minute) until GATE exists.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from feedgen.app import App
from feedgen.build import Builder
from feedgen.publish.storage.local import LocalStorage

WAIT_SECONDS = 60.0


class GatedStorage(LocalStorage):
    def __init__(self, root: str, gate: Path, arrived: Path) -> None:
        super().__init__(root)
        self.gate = gate
        self.arrived = arrived

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        if key.endswith(".ics"):
            self.arrived.touch()
            deadline = time.monotonic() + WAIT_SECONDS
            while not self.gate.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        super().put(key, data, content_type=content_type, cache_control=cache_control)


def main(config: str, gate: str, arrived: str) -> None:
    app = App.from_sources(config)
    root = app.config.storage.url.removeprefix("file://")
    storage = GatedStorage(root, Path(gate), Path(arrived))
    report = Builder(app.engine, storage, app.config).cycle()
    print(report.summary())


if __name__ == "__main__":
    main(*sys.argv[1:4])
