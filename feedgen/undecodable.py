"""Text in the CRM that is not valid UTF-8: read with U+FFFD in place of the bad bytes, counted,
and named in one warning per row.

SQLite stores whatever bytes a client hands it, and so does PostgreSQL in a SQL_ASCII database;
old imports leave such values behind. Failing the read would fail every feed of the batch, so
``db`` reads text with the decoders here. They count what they replace: a reader compares
``replacements()`` before and after a read and looks for the rows to name only when it moved, so
the rows of a clean CRM cost nothing more to read.
"""

from __future__ import annotations

import codecs
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

# What is read in place of bytes that are not valid UTF-8.
REPLACEMENT = "\ufffd"
SQL_ASCII_CODEC = "feedgen_sql_ascii"

_speedups: ModuleType | None = None
if not os.environ.get("FEEDGEN_NO_SPEEDUPS"):
    try:
        from . import _speedups
    except ImportError:  # pragma: no cover (built without a C compiler)
        _speedups = None

_replaced = 0  # values the Python decoders below read with bytes replaced


def _python_decode_text(data: bytes) -> str:
    global _replaced
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError:
        _replaced += 1
        return str(data, "utf-8", "replace")


# sqlite3's text_factory: in C when built (about 56 ns a value more than sqlite3's own decoding;
# a Python function, or functools.partial(str, ...), about 300 ns).
decode_text: Callable[[bytes], str] = (
    _speedups.decode_text if _speedups is not None else _python_decode_text
)


def replacements() -> int:
    """How many text values this process has read with bad bytes replaced so far."""
    found = _speedups.replacements() if _speedups is not None else 0
    return found + _replaced


def _decode_sql_ascii(data: Any, errors: str = "strict", /) -> tuple[str, int]:
    global _replaced
    try:
        return codecs.utf_8_decode(data, "strict", True)
    except UnicodeDecodeError:
        _replaced += 1
        return codecs.utf_8_decode(data, "replace", True)


def _find_codec(name: str) -> codecs.CodecInfo | None:
    """UTF-8 that reads bad bytes as U+FFFD, for databases whose encoding is SQL_ASCII."""
    if name != SQL_ASCII_CODEC:
        return None
    return codecs.CodecInfo(codecs.utf_8_encode, _decode_sql_ascii, name=SQL_ASCII_CODEC)


codecs.register(_find_codec)

_reported: set[tuple[str, object, tuple[str, ...]]] = set()


def warn_replaced(table: str, row_id: object, columns: Mapping[str, object]) -> None:
    """Warn once (per process) which of a row's ``columns`` hold U+FFFD, if any.

    Names the table, columns and row, never the text: it may be personal.
    """
    bad = tuple(
        f"{table}.{name}"
        for name, value in columns.items()
        if isinstance(value, str) and REPLACEMENT in value
    )
    key = (table, row_id, bad)
    if not bad or key in _reported:
        return
    if len(_reported) >= 10_000:  # what was said is forgotten before it grows with the CRM
        _reported.clear()
    _reported.add(key)
    log.warning(
        "%s of row %s: not valid UTF-8, read with U+FFFD in place of the bad bytes",
        ", ".join(bad),
        row_id,
    )


def name_rows(
    table: str, rows: Iterable[Sequence[Any]], id_at: int, columns: Mapping[str, int]
) -> None:
    """``warn_replaced`` for each of ``rows``: its id at ``id_at``, its text ``columns`` at the
    positions given. Called when ``replacements()`` moved during the read of ``rows``."""
    for row in rows:
        warn_replaced(table, row[id_at], {name: row[at] for name, at in columns.items()})
