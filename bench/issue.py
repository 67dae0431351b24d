"""How long "Generate Calendar URL" takes: ``FeedService.issue`` (and ``rotate``) for one user with
a typical and with a large calendar, into a local folder and into S3 over HTTP (moto's server).

    python -m bench.issue [--repeat N] [--typical N] [--large N]

Each figure is the median of N calls on a fresh feed (revoked in between), wall time of the whole
call: the database writes, reading the user's activities, rendering, the uploads of the feed and
its page, and for rotate the deletion of the old objects.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from feedgen.config import Config, StorageConfig
from feedgen.crm import tables as crm
from feedgen.db import open_engine
from feedgen.lifecycle import FeedService
from feedgen.model import SubjectKind
from feedgen.publish.storage import Storage, open_storage
from feedgen.state import migrations

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
USER = SubjectKind.USER


def seed(engine: sa.Engine, user_id: int, activities: int, first_id: int) -> None:
    """A user whose calendar holds ``activities`` meetings, spread over the feed's window, each
    with a colleague and an outside contact."""
    rows, people = [], []
    for n in range(activities):
        start = NOW - timedelta(days=30) + timedelta(hours=7 * n % (395 * 24))
        activity_id = first_id + n
        rows.append(
            {
                "id": activity_id,
                "kind": ("meeting", "viewing", "call")[n % 3],
                "title": f"Viewing {n}: Hauptstraße {n % 200}, 3 rooms",
                "description": "Bring the floor plan; the owner joins at 10:30.\nKeys at the desk.",
                "location": f"Hauptstraße {n % 200}, 10115 Berlin",
                "starts_at": start,
                "ends_at": start + timedelta(hours=1),
                "all_day": False,
                "status": "open",
                "owner_id": user_id,
                "created_at": NOW - timedelta(days=40),
                "updated_at": NOW - timedelta(days=1),
            }
        )
        people.append(
            {"activity_id": activity_id, "name": f"Client {n}", "email": f"c{n}@x.example"}
        )
    with engine.begin() as conn:
        conn.execute(
            crm.users.insert().values(
                id=user_id,
                name=f"Agent {user_id}",
                email=f"agent{user_id}@tesoro.example",
                time_zone="Europe/Berlin",
                active=True,
                updated_at=NOW,
            )
        )
        conn.execute(crm.activities.insert(), rows)
        conn.execute(crm.participants.insert(), people)


def timed(call: Callable[[], object], repeat: int, between: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
        between()
    return statistics.median(times)


@contextmanager
def s3_storage() -> Iterator[Storage]:
    from tests.support.moto_server import moto_server

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    with moto_server() as endpoint:
        config = StorageConfig(url="s3://bench/feeds", region="us-east-1", endpoint_url=endpoint)
        storage = open_storage(config)
        storage.client.create_bucket(Bucket="bench")  # type: ignore[attr-defined]
        yield storage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--typical", type=int, default=120, help="activities of a typical user")
    parser.add_argument("--large", type=int, default=20_000, help="activities of a large one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = open_engine(f"sqlite:///{Path(folder) / 'crm.sqlite'}")
        crm.metadata.create_all(engine)
        migrations.upgrade(engine)
        sizes = {"typical": (1, args.typical), "large": (2, args.large)}
        for user_id, count in sizes.values():
            seed(engine, user_id, count, first_id=user_id * 1_000_000)
        config = Config()
        local = open_storage(StorageConfig(url=f"file://{Path(folder) / 'feeds'}"))
        print(f"{'':24}{'local folder':>14}{'S3 over HTTP':>14}")
        with s3_storage() as s3:
            for label, (user_id, count) in sizes.items():
                figures = []
                for storage in (local, s3):
                    service = FeedService(engine, storage, config)

                    def issue(user: int = user_id, svc: FeedService = service) -> object:
                        return svc.issue(USER, user)

                    def revoke(user: int = user_id, svc: FeedService = service) -> object:
                        return svc.revoke(USER, user)

                    figures.append(timed(issue, args.repeat, revoke))
                line = "".join(f"{seconds * 1000:11.0f} ms" for seconds in figures)
                print(f"issue, {label} ({count:,} activities)".ljust(24) + line)


if __name__ == "__main__":
    main()
