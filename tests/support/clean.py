"""What "storage equal to a clean build" means in a test: every active feed's object holds the
bytes a full build would write now, with its subscribe page, and no other feed object exists."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config
from feedgen.publish.storage import Storage
from feedgen.state.feeds import active_feeds
from feedgen.tokens import keys_of, object_key, page_key


def differences(engine: sa.Engine, storage: Storage, config: Config, now: datetime) -> list[str]:
    """How ``storage`` differs from a clean build of the feeds in ``engine``; empty when equal."""
    preview = Builder(engine, storage, config, now=lambda: now)
    with engine.connect() as conn:
        feeds = active_feeds(conn)
    wrong = []
    for feed in feeds:
        if storage.get(object_key(feed.token)) != preview.preview(feed.id).data:
            wrong.append(f"feed {feed.id}: stored bytes differ from a clean build")
        if storage.get(page_key(feed.page_token)) is None:
            wrong.append(f"feed {feed.id}: no subscribe page")
    owned = {key for feed in feeds for key in keys_of(feed)}
    wrong += [f"stray object {key[:6]}…" for key in storage.list_keys() if _stray(key, owned)]
    return wrong


def _stray(key: str, owned: set[str]) -> bool:
    return key.endswith((".ics", ".html")) and key not in owned
