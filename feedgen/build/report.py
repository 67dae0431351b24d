"""What a run did: counts, failures and the activities it skipped, for logs, the CLI and tests."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime

from ..state.liveness import Run

# A redacted key in a failure message ("S3 put of AbCdEf… failed"): one cause for every feed.
_REDACTED = re.compile(r"[A-Za-z0-9_-]{0,6}…(\.ics|\.html)?")


# Fields of the whole run, not of its parts: a part's are not added.
_OWN = frozenset({"kind", "seconds"})


@dataclass
class RunReport:
    kind: str
    feeds_built: int = 0
    uploaded: int = 0
    pages_uploaded: int = 0
    unchanged: int = 0
    failed: int = 0
    events: int = 0
    bytes_uploaded: int = 0
    trimmed_feeds: int = 0
    patched: int = 0
    deleted: int = 0
    changed_activities: int = 0
    seconds: float = 0.0
    # Stopped before the end (a signal): what was left stays dirty for the next run.
    stopped: bool = False
    errors: dict[int, str] = field(default_factory=dict)
    skipped_ids: set[int] = field(default_factory=set)
    # Deletions, CDN purges and robots.txt that failed this run (each retried later).
    storage_errors: list[str] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        """Nothing to do: no feed built or failed, nothing stored or deleted, nothing stopped."""
        return not (
            self.feeds_built or self.failed or self.pages_uploaded or self.deleted or self.stopped
        ) and not (self.errors or self.storage_errors or self.skipped_ids)

    @property
    def skipped_activities(self) -> int:
        return len(self.skipped_ids)

    def causes(self) -> list[tuple[str, int]]:
        """Why feeds failed, most common first, each with how many: an outage is one cause."""
        counts = Counter(_REDACTED.sub("…", message) for message in self.errors.values())
        return counts.most_common()

    def merge(self, other: RunReport) -> None:
        """Add what a part of this run did (built in another process), field by field by type: a
        field added later is merged without a change here."""
        for item in fields(self):
            if item.name in _OWN:
                continue
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if isinstance(mine, bool):
                setattr(self, item.name, mine or theirs)
            elif isinstance(mine, int):
                setattr(self, item.name, mine + theirs)
            elif isinstance(mine, dict):
                mine.update(theirs)
            elif isinstance(mine, set):
                mine |= theirs
            elif isinstance(mine, list):
                mine += theirs
            else:  # a new kind of field must say how it merges
                raise TypeError(f"RunReport.{item.name}: no rule to merge {type(mine).__name__}")

    def as_run(self, started_at: datetime) -> Run:
        """The run as ``feedgen status`` lists it (``state.liveness``)."""
        error, outcome = None, "ok"
        if self.errors:
            cause, count = self.causes()[0]
            error = f"{count}× {cause}"
            outcome = "feeds failed" if self.feeds_built else "failed"
        elif self.stopped:
            outcome = "stopped"
        return Run(
            self.kind,
            started_at,
            self.seconds,
            self.feeds_built,
            self.uploaded,
            self.failed,
            outcome,
            error,
        )

    def summary(self) -> str:
        """One line; feeds (calendars) and their subscribe pages are counted apart."""
        return (
            f"{self.kind}: {self.feeds_built} feed(s) built ({self.uploaded} uploaded, "
            f"{self.unchanged} unchanged, {self.patched} patched), {self.failed} failed, "
            f"{self.pages_uploaded} subscribe page(s) uploaded, {self.events} events, "
            f"{self.deleted} object(s) deleted, {self.skipped_activities} activity(ies) skipped "
            f"in {self.seconds:.2f}s"
            + ("; stopped early, the rest waits for the next run" if self.stopped else "")
        )
