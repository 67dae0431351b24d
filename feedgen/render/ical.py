"""A direct RFC 5545 serialiser for the few property shapes feedgen writes.

It produces the same bytes as icalendar 7's ``to_ical()`` for those shapes — the same TEXT
escaping, RFC 6868 parameter escaping and quoting, and 75-octet folding — at a small fraction of the
cost: a feed holds thousands of events and icalendar builds an object tree for each. The
differential test in ``tests/test_ical.py`` holds it to icalendar byte for byte; anything this
module does not cover is rendered by icalendar itself (see ``reference.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import lru_cache

CRLF = b"\r\n"
FOLD = b"\r\n "
# icalendar folds before a line would reach 75 octets, so a chunk holds at most 74.
_CHUNK = 74
_QUOTABLE = re.compile("[,;:\u2019]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    r"""Drop control characters, which RFC 5545 forbids in TEXT (tab, CR and LF stay).

    A literal ``\N`` (as in ``C:\Notes``) gets an invisible WORD JOINER after its backslash:
    icalendar's escaping, which the fast path reproduces byte for byte, would turn it into a line
    break.
    """
    if _CONTROL.search(value):
        value = _CONTROL.sub("", value)
    return value.replace("\\N", "\\\u2060N") if "\\N" in value else value


def escape_text(value: str) -> str:
    """TEXT escaping exactly as icalendar does it (including its ``\\N`` normalisation)."""
    return (
        value.replace("\\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def param_value(value: str, always_quote: bool = False) -> str:
    """RFC 6868-escape a parameter value and quote it when it holds a delimiter."""
    value = (
        value.replace("^", "^^")
        .replace("\r\n", "^n")
        .replace("\r", "^n")
        .replace("\n", "^n")
        .replace('"', "^'")
    )
    return f'"{value}"' if always_quote or _QUOTABLE.search(value) else value


def cn_param(name: str) -> str:
    """A ``CN=`` parameter; icalendar also quotes a name whose raw text holds a space or ``'``."""
    return "CN=" + param_value(name, " " in name or "'" in name)


def fold(line: str) -> bytes:
    """Encode one content line and fold it into chunks of at most 74 octets.

    A chunk never splits a UTF-8 sequence and never ends in a lone ``\\`` or ``^`` (icalendar
    keeps an escape sequence on one line for clients that unfold poorly).
    """
    data = line.encode()
    size = len(data)
    if size <= _CHUNK:
        return data
    if size == len(line):
        # ASCII: every chunk is 74 octets unless one would end in an escape character; the
        # octets where chunks end (73, 147, ...) tell at once.
        ends = data[_CHUNK - 1 : size - 1 : _CHUNK]
        if b"\\" not in ends and b"^" not in ends:
            return FOLD.join([data[pos : pos + _CHUNK] for pos in range(0, size, _CHUNK)])
    chunks = []
    pos = 0
    while size - pos > _CHUNK:
        end = pos + _CHUNK
        while data[end] & 0xC0 == 0x80:  # inside a multi-byte character: back off
            end -= 1
        if data[end - 1] in b"\\^":
            end -= 1
        chunks.append(data[pos:end])
        pos = end
    chunks.append(data[pos:])
    return FOLD.join(chunks)


def fold_line(line: str) -> str:
    """``line`` as written to a feed: itself, or folded (``\r\n `` inserted) past 74 octets."""
    size = len(line)
    if size <= 18 or (size <= _CHUNK and (line.isascii() or len(line.encode()) <= _CHUNK)):
        return line  # the common case: no encoding work beyond a length check
    return fold(line).decode()


@lru_cache(maxsize=2_048)
def fmt_datetime(value: datetime) -> str:
    """A UTC DATE-TIME; ``value`` is naive UTC. Cached: a feed's times repeat a lot."""
    # %-formatting is twice as fast as an f-string with six format specs here.
    return "%04d%02d%02dT%02d%02d%02dZ" % (  # noqa: UP031
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
    )


def fmt_date(value: date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def fmt_duration(value: timedelta) -> str:
    """A DURATION written the way icalendar writes it (``-PT15M``, ``P1D``, ``P0D``)."""
    sign = "-" if value.days < 0 else ""
    value = abs(value)
    timepart = ""
    if value.seconds:
        hours, rest = divmod(value.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        timepart = "T"
        if hours:
            timepart += f"{hours}H"
        if minutes or (hours and seconds):
            timepart += f"{minutes}M"
        if seconds:
            timepart += f"{seconds}S"
    if value.days == 0 and timepart:
        return f"{sign}P{timepart}"
    return f"{sign}P{value.days}D{timepart}"


def dt_line(name: str, value: date | datetime) -> str:
    if isinstance(value, datetime):
        return f"{name}:{fmt_datetime(value)}"
    return f"{name};VALUE=DATE:{fmt_date(value)}"


def text_line(name: str, value: str) -> str:
    return f"{name}:{escape_text(value)}"


def text_prop(prefix: str, value: str) -> str:
    """A TEXT property line (``prefix`` is ``NAME:``), escaped and folded: ``fold_line(
    text_line(...))`` in one call, for the hot path."""
    if "\\" in value or ";" in value or "," in value or "\n" in value or "\r" in value:
        value = escape_text(value)
    line = prefix + value
    size = len(line)
    if size <= 18 or (size <= _CHUNK and (line.isascii() or len(line.encode()) <= _CHUNK)):
        return line
    return fold(line).decode()


def join_lines(lines: Iterable[str]) -> bytes:
    """Fold each content line and terminate every one with CRLF."""
    return b"".join(fold(line) + CRLF for line in lines)
