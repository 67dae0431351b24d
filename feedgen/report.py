"""What a run did: counts, failures and the activities it skipped, for logs, the CLI and tests."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

# A redacted key in a failure message ("S3 put of AbCdEf… failed"): one cause for every feed.
_REDACTED = re.compile(r"[A-Za-z0-9_-]{0,6}…(\.ics|\.html)?")


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
    def skipped_activities(self) -> int:
        return len(self.skipped_ids)

    def causes(self) -> list[tuple[str, int]]:
        """Why feeds failed, most common first, each with how many: an outage is one cause."""
        counts = Counter(_REDACTED.sub("…", message) for message in self.errors.values())
        return counts.most_common()

    def merge(self, other: RunReport) -> None:
        """Add the counts of a part of this run (built in another process)."""
        for name in ("feeds_built", "uploaded", "unchanged", "failed", "events"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.bytes_uploaded += other.bytes_uploaded
        self.pages_uploaded += other.pages_uploaded
        self.trimmed_feeds += other.trimmed_feeds
        self.patched += other.patched
        self.errors.update(other.errors)
        self.skipped_ids |= other.skipped_ids
        self.storage_errors += other.storage_errors
        self.stopped |= other.stopped

    def summary(self) -> str:
        return (
            f"{self.kind}: {self.feeds_built} feed(s) built, {self.uploaded} uploaded"
            f"{f' (and {self.pages_uploaded} subscribe page(s))' if self.pages_uploaded else ''}, "
            f"{self.unchanged} unchanged, {self.failed} failed, {self.patched} patched, "
            f"{self.events} events, "
            f"{self.deleted} object(s) deleted, {self.skipped_activities} activity(ies) skipped "
            f"in {self.seconds:.2f}s"
            + ("; stopped early, the rest waits for the next run" if self.stopped else "")
        )
