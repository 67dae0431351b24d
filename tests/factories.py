"""Builders for a realistic small CRM: users in teams, activities of every kind, participants."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from feedgen.crm import tables as crm

_ids = itertools.count(1000)


@dataclass
class Crm:
    """Writes CRM rows the way a CRM would: every change bumps the activity's updated_at."""

    engine: sa.Engine
    now: datetime
    tick: int = 0
    activity_ids: list[int] = field(default_factory=list)

    def stamp(self) -> datetime:
        """updated_at as the CRM writes it: the real clock (change detection reads the database's
        clock), each write a second after the previous one so that versions differ."""
        self.tick += 1
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(seconds=self.tick)

    def user(
        self,
        name: str,
        *,
        email: str | None = None,
        zone: str = "Europe/Berlin",
        active: bool = True,
    ) -> int:
        user_id = next(_ids)
        with self.engine.begin() as conn:
            conn.execute(
                crm.users.insert().values(
                    id=user_id,
                    name=name,
                    email=email if email is not None else f"user{user_id}@tesoro.example",
                    time_zone=zone,
                    active=active,
                    updated_at=self.stamp(),
                )
            )
        return user_id

    def update_user(self, user_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                crm.users.update()
                .where(crm.users.c.id == user_id)
                .values(updated_at=self.stamp(), **values)
            )

    def team(self, name: str, members: list[int]) -> int:
        team_id = next(_ids)
        with self.engine.begin() as conn:
            conn.execute(crm.teams.insert().values(id=team_id, name=name))
            for i, member in enumerate(members):
                role = "manager" if i == 0 else "member"
                conn.execute(
                    crm.team_members.insert().values(team_id=team_id, user_id=member, role=role)
                )
        return team_id

    def remove_member(self, team_id: int, user_id: int) -> None:
        tm = crm.team_members
        with self.engine.begin() as conn:
            conn.execute(tm.delete().where(tm.c.team_id == team_id, tm.c.user_id == user_id))

    def activity(
        self,
        owner: int,
        kind: str = "meeting",
        title: str = "Viewing follow-up",
        *,
        start: datetime | None = None,
        minutes: int = 60,
        due: datetime | None = None,
        all_day: bool = False,
        colleagues: tuple[int, ...] = (),
        contacts: tuple[tuple[str, str | None], ...] = (),
        **values: Any,
    ) -> int:
        """An activity; meetings, viewings and calls start ``start`` (default: tomorrow 10:00)."""
        activity_id = next(_ids)
        if kind in ("meeting", "viewing", "call") and start is None and "starts_at" not in values:
            start = self.now.replace(hour=10, minute=0) + timedelta(days=1)
        row = {
            "id": activity_id,
            "kind": kind,
            "title": title,
            "description": values.pop("description", "Discuss the offer, next steps; keys."),
            "location": values.pop("location", "Hauptstraße 5, 10115 Berlin"),
            "starts_at": start,
            "ends_at": start + timedelta(minutes=minutes) if start is not None else None,
            "due_at": due,
            "all_day": all_day,
            "priority": values.pop("priority", "normal" if kind == "task" else None),
            "status": values.pop("status", "open"),
            "owner_id": owner,
            "created_at": self.now - timedelta(days=3),
            "updated_at": self.stamp(),
        }
        row.update(values)
        with self.engine.begin() as conn:
            conn.execute(crm.activities.insert().values(**row))
            for colleague in colleagues:
                conn.execute(
                    crm.participants.insert().values(activity_id=activity_id, user_id=colleague)
                )
            for name, email in contacts:
                conn.execute(
                    crm.participants.insert().values(
                        activity_id=activity_id, name=name, email=email
                    )
                )
        self.activity_ids.append(activity_id)
        return activity_id

    def edit(self, activity_id: int, *, at: datetime | None = None, **values: Any) -> None:
        """Change an activity; ``at`` is the updated_at to write (default: ``stamp()``), e.g. a
        moment within a second another save already used."""
        a = crm.activities
        stamp = at if at is not None else self.stamp()
        with self.engine.begin() as conn:
            conn.execute(a.update().where(a.c.id == activity_id).values(updated_at=stamp, **values))

    def add_colleague(self, activity_id: int, user_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(crm.participants.insert().values(activity_id=activity_id, user_id=user_id))
        self.edit(activity_id)

    def remove_colleague(self, activity_id: int, user_id: int) -> None:
        p = crm.participants
        with self.engine.begin() as conn:
            conn.execute(p.delete().where(p.c.activity_id == activity_id, p.c.user_id == user_id))
        self.edit(activity_id)

    def hard_delete(self, activity_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                crm.participants.delete().where(crm.participants.c.activity_id == activity_id)
            )
            conn.execute(crm.activities.delete().where(crm.activities.c.id == activity_id))
