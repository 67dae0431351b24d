"""Feed tokens: the unguessable capability in a feed's URL."""

from __future__ import annotations

import re
import secrets

from .model import Feed

# 32 bytes = 256 bits of entropy; URL-safe base64 without padding gives 43 characters,
# which keeps a feed URL well under Google Calendar's 256-character limit.
TOKEN_BYTES = 32


def new_token() -> str:
    """Return a fresh random token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def redact(token: str) -> str:
    """A form of ``token`` safe to log: enough to tell feeds apart, too little to use."""
    return f"{token[:6]}…" if len(token) > 6 else "…"


def redact_key(key: str) -> str:
    """A storage key with its token redacted and its extension kept: ``AbCdEf….ics``."""
    stem, dot, extension = key.partition(".")
    return f"{redact(stem)}{dot}{extension}"


# A token as new_token makes it: 43 URL-safe base64 characters, standing alone.
_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def scrub(text: str) -> str:
    """``text`` with anything shaped like a whole token redacted: for messages we did not write."""
    return _TOKEN.sub(lambda match: redact(match.group()), text)


def object_key(token: str) -> str:
    """The storage key of a feed: the token alone, nothing personal (DESIGN invariant 7)."""
    return f"{token}.ics"


def page_key(page_token: str) -> str:
    """The subscribe page's key: a random token of its own, as unguessable as the feed's and not
    derivable from it (the page's URL may be shared where the feed's must not be)."""
    return f"{page_token}.html"


def keys_of(feed: Feed) -> tuple[str, str]:
    """The storage keys a feed owns: its calendar and its subscribe page."""
    return object_key(feed.token), page_key(feed.page_token)


# Only keys of this shape are feedgen's: clean-up never touches anything else in a shared bucket.
OWNED_KEY = re.compile(r"^[A-Za-z0-9_-]{43}\.(ics|html)$")
