"""Seed a CRM with realistic, deterministic data: for ``feedgen demo`` and for the benchmark.

The same spec and ``now`` give the same rows on every database. Rows are generated and loaded in
chunks through the driver's bulk path (executemany on SQLite, COPY on PostgreSQL), so a million
activities load in about a minute with memory that does not grow with the data.
"""

from __future__ import annotations

import random
import re
import unicodedata
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..crm import tables as crm
from ..errors import FeedgenError
from .bulkload import bulk_mode, finish_postgres, load
from .vocabulary import (
    COMPANIES,
    CONTACT_DOMAINS,
    CULTURES,
    FOLD,
    HOSTILE_NAMES,
    HOSTILE_TITLES,
    KINDS,
    ROOMS,
    SENTENCES,
    SHOWCASE,
    STREETS,
    TEAM_NAMES,
    TITLES,
    ZONES,
)

CHUNK_ROWS = 20_000


INVALID_ZONE = "Mars/Olympus_Mons"


_KIND_SHARE = (0.30, 0.15, 0.20, 0.25, 0.10)


_KIND_CUM = tuple(accumulate(_KIND_SHARE))[:-1]


# Mean participants per kind relative to the overall mean (meetings crowded, notes nearly empty).
_KIND_CROWD = (1.4, 1.2, 0.8, 0.4, 0.3)


_PRIORITY_CUM = (0.2, 0.8)  # high, normal, low


@dataclass(frozen=True)
class DemoSpec:
    """How much demo data to make. ``broken`` counts each kind of broken row separately."""

    users: int = 40
    teams: int = 4
    activities_per_user: int = 80
    participants_per_activity: float = 2.0
    span_days: int = 365
    broken: int = 2
    seed: int = 42

    def __post_init__(self) -> None:
        checks = {
            "users": self.users >= 1,
            "teams": 1 <= self.teams <= self.users,
            "activities_per_user": self.activities_per_user >= 0,
            "participants_per_activity": 0 <= self.participants_per_activity <= 4,
            "span_days": 0 <= self.span_days <= 3660,
            "broken": 0 <= 3 * self.broken <= self.users * self.activities_per_user,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"DemoSpec.{name}: out of range ({getattr(self, name)!r})")

    @classmethod
    def bench(cls, users: int = 10_000) -> DemoSpec:
        """The benchmark's CRM: 25 users a team, 100 activities each, other values as default."""
        return cls(users=users, teams=max(1, users // 25), activities_per_user=100)


@dataclass(frozen=True)
class DemoCounts:
    users: int
    teams: int
    activities: dict[str, int]
    """Per kind, broken rows included."""
    participants: int
    broken: int

    @property
    def total_activities(self) -> int:
        return sum(self.activities.values())


def seed_crm(
    engine: sa.Engine, spec: DemoSpec, *, now: datetime, reset: bool = False
) -> DemoCounts:
    """Create the CRM tables and fill them; with ``reset`` drop the CRM tables (only those) first.

    ``now`` is naive UTC (an aware value is converted); activities spread over ``span_days``
    either side of it. Refuses to add to tables that already hold rows.
    """
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    if reset:
        crm.metadata.drop_all(engine)
    crm.metadata.create_all(engine)
    gen = _Generator(spec, now.replace(microsecond=0))
    with engine.connect() as conn:
        with conn.begin():
            filled = [t.name for t in crm.CRM_TABLES if conn.execute(sa.select(t).limit(1)).first()]
        if filled:
            raise FeedgenError(
                f"the CRM tables already hold rows ({', '.join(filled)}); "
                "seed with reset=True (feedgen demo --reset) to replace them"
            )
        with bulk_mode(conn):
            load(conn, crm.users, gen.users())
            load(conn, crm.teams, gen.teams())
            load(conn, crm.team_members, gen.members())
            for acts, parts in gen.activities():
                load(conn, crm.activities, acts)
                load(conn, crm.participants, parts)
        if conn.dialect.name == "postgresql":
            finish_postgres(conn, crm.CRM_TABLES)
    kinds = dict(zip(KINDS, gen.kinds, strict=True))
    return DemoCounts(spec.users, spec.teams, kinds, gen.participant_id, len(gen.broken_at))


def _utc(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=zone)
    return local.astimezone(UTC).replace(tzinfo=None)


def _slug(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name.translate(FOLD)).encode("ascii", "ignore")
    return ".".join(re.findall(r"[a-z0-9]+", folded.decode().lower()))


def _binomial_cum(mean: float) -> list[float]:
    # 0..4 participants, binomial(4, mean/4): the mean is exact and the range bounded.
    q = min(1.0, mean / 4)
    pmf = [(1, 4, 6, 4, 1)[k] * q**k * (1 - q) ** (4 - k) for k in range(5)]
    return [sum(pmf[: k + 1]) for k in range(4)]


class _Generator:
    """Draws every row from one seeded stream, so the output depends on spec and now alone.

    Call users, teams, members and activities once each, in that order.
    """

    def __init__(self, spec: DemoSpec, now: datetime) -> None:
        self.spec, self.now, self.today = spec, now, now.date()
        self.rng = rng = random.Random(spec.seed)
        n = spec.users
        order = list(range(1, n + 1))
        rng.shuffle(order)
        self.team_of = [0] * (n + 1)
        self.team_users: list[list[int]] = [[] for _ in range(spec.teams + 1)]
        for i, uid in enumerate(order):
            self.team_of[uid] = i % spec.teams + 1
            self.team_users[i % spec.teams + 1].append(uid)
        self.bad_zone_id = rng.randint(2, n) if n >= 2 else 0
        pool = [u for u in range(2, n + 1) if u != self.bad_zone_id]
        self.inactive = set(rng.sample(pool, min(len(pool), max(2, n // 100)))) if n >= 5 else set()
        self.zones = [ZoneInfo("UTC")] * (n + 1)
        self.contacts = [self._contact(i) for i in range(min(5000, max(200, 3 * n)))]
        total = n * spec.activities_per_user
        nb = 3 * spec.broken
        self.broken_at = {1 + (2 * j + 1) * total // (2 * nb): j for j in range(nb)}
        crowd = sum(c * s for c, s in zip(_KIND_CROWD, _KIND_SHARE, strict=True))
        p = spec.participants_per_activity
        means = [p * c / crowd for c in _KIND_CROWD]
        if max(means) > 4:  # too crowded to skew by kind: same mean everywhere
            means = [p] * 5
        self.crowd_cum = [_binomial_cum(m) for m in means]
        self.kinds = [0] * 5
        self.participant_id = 0

    def _name(self) -> str:
        given, family, form = self.rng.choice(CULTURES)
        return form.format(
            g=self.rng.choice(given.split("|")), f=self.rng.choice(family.split("|"))
        )

    def _contact(self, i: int) -> tuple[str, str | None]:
        rng = self.rng
        name = rng.choice(HOSTILE_NAMES) if rng.random() < 0.03 else self._name()
        if rng.random() < 0.12:
            return name, None
        return name, f"{_slug(name) or 'contact'}.{i}@{rng.choice(CONTACT_DOMAINS)}"

    def users(self) -> list[tuple[Any, ...]]:
        rng, rows = self.rng, []
        for uid in range(1, self.spec.users + 1):
            name = SHOWCASE[uid - 1] if uid <= len(SHOWCASE) else self._name()
            team_zone = ZONES[(self.team_of[uid] - 1) % len(ZONES)]
            zone = team_zone if rng.random() < 0.7 else rng.choice(ZONES)
            self.zones[uid] = ZoneInfo(zone)
            if uid == self.bad_zone_id:
                zone = INVALID_ZONE  # activities still get sensible UTC times
            email = f"{_slug(name) or 'user'}.{uid}@example.com"
            updated = self.now - timedelta(seconds=rng.randint(3600, 400 * 86400))
            rows.append((uid, name, email, zone, uid not in self.inactive, updated))
        return rows

    def teams(self) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for t in range(self.spec.teams):
            lap = t // len(TEAM_NAMES)  # more teams than names: "Vertrieb Nord 2", ...
            rows.append((t + 1, TEAM_NAMES[t % len(TEAM_NAMES)] + (f" {lap + 1}" if lap else "")))
        return rows

    def members(self) -> list[tuple[Any, ...]]:
        return [
            (t, uid, "manager" if i == 0 else "member")
            for t in range(1, self.spec.teams + 1)
            for i, uid in enumerate(self.team_users[t])
        ]

    def activities(self) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        acts: list[tuple[Any, ...]] = []
        parts: list[tuple[Any, ...]] = []
        n = self.spec.users
        for aid in range(1, n * self.spec.activities_per_user + 1):
            owner = (aid - 1) % n + 1
            row = self._activity(aid, owner)
            acts.append(row)
            self._participants(aid, owner, KINDS.index(row[1]), parts)
            if len(acts) >= CHUNK_ROWS:
                yield acts, parts
                acts, parts = [], []
        if acts:
            yield acts, parts

    def _fill(self, slot: str, address: str) -> str:
        if slot == "c":
            return self.rng.choice(self.contacts)[0]
        if slot == "co":
            return self.rng.choice(COMPANIES)
        return address or self._address()

    def _address(self) -> str:
        return self.rng.choice(STREETS).format(self.rng.randint(1, 120))

    def _description(self) -> str | None:
        rng, r = self.rng, self.rng.random()
        if r < 0.25:
            return None
        if r < 0.30:
            return ""
        if r < 0.31:
            size = rng.randint(2048, 5120)
            return " ".join(rng.choices(SENTENCES, k=size // 40))[:size]
        sep = rng.choice(("\n", "\r\n", " "))
        return sep.join(rng.choices(SENTENCES, k=rng.randint(1, 3)))

    def _slot(self, kind: int, day: date, zone: ZoneInfo) -> tuple[datetime, datetime, bool]:
        rng = self.rng
        if kind == 2:  # call
            start = _utc(day, rng.randrange(8 * 60, 18 * 60, 5), zone)
            return start, start + timedelta(minutes=rng.randrange(15, 31, 5)), False
        r = rng.random()
        if kind == 0 and r < 0.03:
            # All-day: midnight of the first and of the last day, both inclusive.
            first = datetime(day.year, day.month, day.day)
            return first, first + timedelta(days=rng.randrange(0, 5)), True
        if kind == 0 and r < 0.08:  # evening events that run past midnight
            start = _utc(day, rng.randrange(21 * 60, 23 * 60 + 31, 30), zone)
            return start, start + timedelta(minutes=rng.randrange(90, 241, 30)), False
        start = _utc(day, rng.randrange(8 * 60, 17 * 60 + 31, 15), zone)
        return start, start + timedelta(minutes=rng.randrange(30, 121, 15)), False

    def _broken(self, j: int, day: date, zone: ZoneInfo) -> tuple[datetime | None, ...]:
        if j % 3 == 0:
            start = _utc(day, 10 * 60, zone)
            return start, start - timedelta(hours=1)
        if j % 3 == 1:
            return None, None
        # Far-off years break naive date arithmetic: 9999 overflows "+ 1 day", year 1 "- 1 day".
        if j // 3 % 2 == 0:
            return datetime(9999, 12, 31, 22), datetime(9999, 12, 31, 23, 30)
        return datetime(1, 1, 1, 9), datetime(1, 1, 1, 10)

    def _activity(self, aid: int, owner: int) -> tuple[Any, ...]:
        rng, now, zone = self.rng, self.now, self.zones[owner]
        span = self.spec.span_days
        kind = bisect(_KIND_CUM, rng.random())
        day = self.today + timedelta(days=rng.randint(-span, span))
        start = end = due = None
        all_day, priority, status, location = False, None, "open", None
        broken = self.broken_at.get(aid)
        if broken is not None:
            kind = 0
            start, end = self._broken(broken, day, zone)
        elif kind == 3:  # task: half by a date, half by a time
            if rng.random() < 0.5:
                due, all_day = datetime(day.year, day.month, day.day), True
            else:
                due = _utc(day, rng.randrange(9 * 60, 18 * 60 + 1, 30), zone)
            priority = ("high", "normal", "low")[bisect(_PRIORITY_CUM, rng.random())]
            status = "done" if rng.random() < (0.7 if due < now else 0.05) else "open"
        elif kind != 4:
            start, end, all_day = self._slot(kind, day, zone)
            r = rng.random()
            status = "cancelled" if r < 0.04 else "done" if r < 0.5 and start < now else "open"
        address = self._address() if kind == 1 or rng.random() < 0.2 else ""
        if kind == 1:
            location = address
        elif kind == 0 and rng.random() < 0.6:
            location = address or rng.choice(ROOMS)
        if rng.random() < 0.01:
            title = rng.choice(HOSTILE_TITLES)
        else:
            template, slot = rng.choice(TITLES[KINDS[kind]])
            title = template.format(**{slot: self._fill(slot, address)}) if slot else template
        anchor = start if start is not None else due
        ref = anchor if anchor is not None and anchor < now and broken is None else now
        created = ref - timedelta(seconds=rng.randint(3600, 90 * 86400))
        updated, deleted = created, None
        r = rng.random()
        if r < 0.35:  # edited (and, now and then, soft-deleted) later
            age = int((now - created).total_seconds())
            updated = created + timedelta(seconds=rng.randint(60, age))
            deleted = updated if r < 0.02 else None
        self.kinds[kind] += 1
        head = (aid, KINDS[kind], title, self._description(), location, start, end, due)
        return (*head, all_day, priority, status, owner, created, updated, deleted)

    def _participants(self, aid: int, owner: int, kind: int, out: list[tuple[Any, ...]]) -> None:
        rng = self.rng
        count = bisect(self.crowd_cum[kind], rng.random())
        seen = {owner}
        team = self.team_users[self.team_of[owner]]
        for _ in range(count):
            self.participant_id += 1
            if rng.random() < 0.5:
                uid = rng.choice(team) if rng.random() < 0.8 else rng.randint(1, self.spec.users)
                if uid not in seen:
                    seen.add(uid)
                    out.append((self.participant_id, aid, uid, None, None))
                    continue
            name, email = rng.choice(self.contacts)
            out.append((self.participant_id, aid, None, name, email))
