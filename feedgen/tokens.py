"""Feed tokens: the unguessable capability in a feed's URL."""

from __future__ import annotations

import re
import secrets

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
