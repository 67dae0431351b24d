"""Reading a feed's events back from its bytes, for incremental updates."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from feedgen.render.content import EventContent
from feedgen.render.events import event_bytes
from feedgen.render.ical import clean_text
from feedgen.render.patch import parse_events
from tests.conftest import NOW


def test_parse_events_refuses_bytes_it_did_not_write() -> None:
    assert parse_events(b"BEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n") is None
    assert parse_events(b"X-OTHER:1\r\n") is None
    assert parse_events(b"") == []


@settings(max_examples=150, deadline=None)
@given(
    titles=st.lists(st.text(max_size=120), min_size=1, max_size=6),
    description=st.text(max_size=300),
)
def test_parse_events_reads_back_every_event_whatever_its_text(
    titles: list[str], description: str
) -> None:
    contents = [
        EventContent(
            uid=f"activity-{i}.team-3@crm.test",
            summary=clean_text(title),
            start=NOW + timedelta(hours=i),
            end=NOW + timedelta(hours=i + 1),
            stamp=NOW,
            sequence=0,
            category="Meeting",
            transparent=False,
            description=clean_text(description),
        )
        for i, title in enumerate([*titles, "Q3 review\nBEGIN:VEVENT\nUID:activity-99@x"])
    ]
    body = b"".join(event_bytes(content) for content in contents)
    parsed = parse_events(body)
    assert parsed is not None
    assert [(key, i, data) for key, i, data in parsed] == [
        (c.sort_key, i, event_bytes(c)) for i, c in enumerate(contents)
    ]
