"""Feed tokens: unguessable, shortened wherever they are shown, and the only part of a key."""

from __future__ import annotations

import re

from feedgen.model import Feed, SubjectKind
from feedgen.tokens import (
    OWNED_KEY,
    keys_of,
    new_token,
    object_key,
    page_key,
    redact,
    redact_key,
    scrub,
)


def test_a_token_holds_256_bits_in_43_url_safe_characters() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)


def test_a_redacted_token_keeps_six_characters() -> None:
    token = new_token()
    assert redact(token) == token[:6] + "…"


def test_a_redacted_key_keeps_its_extension() -> None:
    token = new_token()
    assert redact_key(f"{token}.ics") == f"{token[:6]}….ics"


def test_scrub_redacts_every_token_in_a_message() -> None:
    first, second = new_token(), new_token()
    message = f"PUT https://bucket/feeds/{first}.ics failed; then {second}"
    assert scrub(message) == f"PUT https://bucket/feeds/{first[:6]}….ics failed; then {second[:6]}…"


def test_scrub_leaves_shorter_and_longer_words_alone() -> None:
    text = "a" * 42 + " " + "b" * 44
    assert scrub(text) == text


def test_a_feeds_keys_are_its_two_tokens_and_nothing_else() -> None:
    feed = Feed(7, new_token(), SubjectKind.USER, 42, page_token=new_token())
    assert keys_of(feed) == (object_key(feed.token), page_key(feed.page_token))
    assert keys_of(feed) == (f"{feed.token}.ics", f"{feed.page_token}.html")
    assert all(OWNED_KEY.match(key) for key in keys_of(feed))
    assert not OWNED_KEY.match("robots.txt")
