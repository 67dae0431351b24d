"""Two ceilings the full rebuild is judged against: rendering on one core, and S3 PUTs alone."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any
from unittest.mock import patch

import sqlalchemy as sa

from feedgen.config import Config
from feedgen.crm.activities import load_batch
from feedgen.crm.people import load_users
from feedgen.errors import RenderError
from feedgen.publish.storage import ICS_CONTENT_TYPE, open_storage
from feedgen.render import events as render
from feedgen.render.content import FeedView, event_content, validate
from feedgen.render.events import EventCache, event_bytes
from feedgen.render.feed import render_feed, shown
from feedgen.render.header import CalendarHeader
from tests.render import reference


@contextmanager
def one_core() -> Any:
    """Pin this thread to one CPU, so "events per second on one core" means what it says."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def _rate(work: Callable[[], int], min_seconds: float) -> float:
    """Items per second of ``work`` (which returns how many it did), run for ``min_seconds``."""
    done, started = 0, time.perf_counter()
    while True:
        done += work()
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return done / elapsed


def render_speed(
    engine: sa.Engine, config: Config, now: datetime, users: int, repeat: int, min_seconds: float
) -> dict[str, Any]:
    """Events/s of event_bytes (with the C serialiser when built, and with the Python one), of
    render_feed (cold cache) and of icalendar, on the same data."""
    options = config.default_options()
    publish = config.publish
    window = options.window(now.date())
    with engine.connect() as conn:
        everyone = load_users(conn)
        ids = sorted(u for u, user in everyone.items() if user.active)[:users]
        batch = load_batch(conn, ids, window, everyone)
    view = FeedView(
        options, publish.uid_domain, publish.crm_base_url + publish.activity_path, everyone
    )
    feeds = [batch.by_user[u] for u in ids]
    contents = []
    for activity in {a.id: a for acts in feeds for a in acts}.values():
        if not shown(activity, view, window.start, window.end):
            continue
        try:
            validate(activity)
        except RenderError:
            continue
        contents.append(event_content(activity, view))
    sample = contents[: max(200, min(len(contents), 3000))]
    header = CalendarHeader("Bench", publish.refresh_minutes)

    def fast() -> int:
        for content in contents:
            event_bytes(content)
        return len(contents)

    def whole() -> int:
        count = 0
        for activities in feeds:
            # A cache per feed: every event is rendered, as on a cold run.
            rendered = render_feed(
                header,
                view,
                activities,
                today=now.date(),
                max_bytes=publish.max_feed_bytes,
                cache=EventCache(),
            )
            count += rendered.event_count
        return count

    def python() -> int:
        # The Python serialiser, which writes the same bytes where the C one is not built.
        with (
            patch.object(render, "event_body", render.py_event_body),
            patch.object(render, "text_line_bytes", render.py_text_line),
        ):
            return fast()

    def slow() -> int:
        for content in sample:
            reference.event_component(content).to_ical()
        return len(sample)

    runs: dict[str, list[float]] = {
        "event_bytes": [],
        "event_bytes_python": [],
        "render_feed": [],
        "icalendar": [],
    }
    with one_core():
        for _ in range(repeat):
            runs["event_bytes"].append(_rate(fast, min_seconds))
            runs["event_bytes_python"].append(_rate(python, min_seconds))
            runs["render_feed"].append(_rate(whole, min_seconds))
            runs["icalendar"].append(_rate(slow, min_seconds))
    mismatches = sum(event_bytes(c) != reference.event_component(c).to_ical() for c in sample[:500])
    return {
        "runs": runs,
        "events": len(contents),
        "icalendar_events": len(sample),
        "feeds": len(feeds),
        "mismatches_vs_icalendar": mismatches,
        "serialiser": "C" if render._speedups is not None else "Python",
    }


def put_ceiling(config: Config, sizes: list[int], repeat: int) -> list[dict[str, float]]:
    """PUT as many objects of the feeds' sizes, on as many threads, with the same boto3 client."""
    storage_config = replace(config.storage, url=config.storage.url.rstrip("/") + "-ceiling")
    storage = open_storage(storage_config)
    payload = b"x" * max(sizes, default=1)
    workers = config.storage.upload_workers
    runs = []
    try:
        for _ in range(repeat):

            def put(i: int) -> None:
                storage.put(
                    f"object-{i}.ics",
                    payload[: sizes[i]],
                    content_type=ICS_CONTENT_TYPE,
                    cache_control=config.cache_control,
                )

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(put, range(len(sizes))))
            runs.append({"wall": time.perf_counter() - started, "bytes": float(sum(sizes))})
    finally:
        storage.close()
    return runs


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value
