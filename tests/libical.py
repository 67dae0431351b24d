"""libical, the parser behind Evolution and other GNOME and KDE clients, through ctypes.

``read`` parses a feed, runs libical's iTIP restriction check (RFC 5546: what each METHOD allows)
and reads the events back; a parse error (libical's X-LIC-ERROR properties) or a failed check
raises ``AssertionError`` with libical's own messages. Debian's ``libical-dev`` (or its runtime,
``libical3``) provides the library; ``make test`` installs it where it can.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

# libical 3's ABI: ``struct icaltimetype`` changed in libical 4, so only this soname is loaded.
SONAME = "libical.so.3"
INSTALL_HINT = "apt-get install libical-dev (make test does it as root)"
ICAL_ANY_COMPONENT = 1  # the second member of icalcomponent_kind in every libical release


class _Time(ctypes.Structure):
    _fields_ = [
        ("year", ctypes.c_int),
        ("month", ctypes.c_int),
        ("day", ctypes.c_int),
        ("hour", ctypes.c_int),
        ("minute", ctypes.c_int),
        ("second", ctypes.c_int),
        ("is_date", ctypes.c_int),
        ("is_daylight", ctypes.c_int),
        ("zone", ctypes.c_void_p),
    ]


_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "icalerror_set_errors_are_fatal": (None, [ctypes.c_int]),
    "icalparser_parse_string": (_P, [ctypes.c_char_p]),
    "icalrestriction_check": (ctypes.c_int, [_P]),
    "icalcomponent_count_errors": (ctypes.c_int, [_P]),
    "icalcomponent_free": (None, [_P]),
    "icalcomponent_isa": (ctypes.c_int, [_P]),
    "icalcomponent_string_to_kind": (ctypes.c_int, [ctypes.c_char_p]),
    "icalproperty_string_to_kind": (ctypes.c_int, [ctypes.c_char_p]),
    "icalcomponent_get_first_component": (_P, [_P, ctypes.c_int]),
    "icalcomponent_get_next_component": (_P, [_P, ctypes.c_int]),
    "icalcomponent_get_first_property": (_P, [_P, ctypes.c_int]),
    "icalcomponent_get_next_property": (_P, [_P, ctypes.c_int]),
    "icalproperty_get_xlicerror": (ctypes.c_char_p, [_P]),
    "icalcomponent_get_uid": (ctypes.c_char_p, [_P]),
    "icalcomponent_get_summary": (ctypes.c_char_p, [_P]),
    "icalcomponent_get_dtstart": (_Time, [_P]),
    "icalcomponent_get_dtend": (_Time, [_P]),
    "icaltime_is_utc": (ctypes.c_int, [_Time]),
    "icaltimezone_get_utc_timezone": (_P, []),
    "icaltime_convert_to_zone": (_Time, [_Time, _P]),
}


def _load() -> tuple[Any, str]:
    """The library with its signatures declared, or None and why it could not be loaded."""
    try:
        lib = ctypes.CDLL(SONAME)
        for name, (restype, argtypes) in _SIGNATURES.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes
    except (OSError, AttributeError) as exc:
        return None, f"{SONAME} not loadable ({exc}): {INSTALL_HINT}"
    # Some builds abort() on an error unless told otherwise; a bad feed must fail a test instead.
    lib.icalerror_set_errors_are_fatal(0)
    return lib, ""


_lib, PROBLEM = _load()
AVAILABLE = _lib is not None
# CI must not pass with the check silently missing (tests/render/test_libical.py fails there
# instead).
REQUIRED = bool(os.environ.get("CI"))


def read(data: bytes) -> dict[str, tuple[str, str, date | datetime, date | datetime]]:
    """The feed's VEVENTs as (UID, SUMMARY, DTSTART, DTEND) by UID, times as naive UTC.

    Raises AssertionError when libical cannot parse the feed, reports an error in it, or finds it
    breaks the restrictions of its METHOD.
    """
    assert _lib is not None, PROBLEM
    root = _lib.icalparser_parse_string(data)
    if not root:
        raise AssertionError("libical cannot parse the feed")
    try:
        valid = _lib.icalrestriction_check(root)
        errors = list(_errors(root))
        assert valid and not errors and not _lib.icalcomponent_count_errors(root), (
            "libical rejects the feed: " + "; ".join(errors or ["restriction check failed"])
        )
        return dict(_events(root))
    finally:
        _lib.icalcomponent_free(root)


def _children(component: int, kind: int = ICAL_ANY_COMPONENT) -> Iterator[int]:
    child = _lib.icalcomponent_get_first_component(component, kind)
    while child:
        yield child
        child = _lib.icalcomponent_get_next_component(component, kind)


def _errors(component: int) -> Iterator[str]:
    """The X-LIC-ERROR messages libical left in the component and everything inside it."""
    kind = _lib.icalproperty_string_to_kind(b"X-LIC-ERROR")
    prop = _lib.icalcomponent_get_first_property(component, kind)
    while prop:
        yield (_lib.icalproperty_get_xlicerror(prop) or b"").decode("utf-8", "replace")
        prop = _lib.icalcomponent_get_next_property(component, kind)
    for child in list(_children(component)):
        yield from _errors(child)


def _events(root: int) -> Iterator[tuple[str, tuple[str, str, date | datetime, date | datetime]]]:
    vevent = _lib.icalcomponent_string_to_kind(b"VEVENT")
    # A single calendar parses to the VCALENDAR itself; several would come wrapped in XROOT.
    assert _lib.icalcomponent_isa(root) == _lib.icalcomponent_string_to_kind(b"VCALENDAR")
    for event in _children(root, vevent):
        uid = (_lib.icalcomponent_get_uid(event) or b"").decode()
        summary = (_lib.icalcomponent_get_summary(event) or b"").decode()
        start = _instant(_lib.icalcomponent_get_dtstart(event))
        end = _instant(_lib.icalcomponent_get_dtend(event))
        assert uid, "libical reads an event without a UID"
        yield uid, (uid, summary, start, end)


def _instant(value: _Time) -> date | datetime:
    if value.is_date:
        return date(value.year, value.month, value.day)
    if not value.zone:
        raise AssertionError(
            f"libical reads a floating time {value.year}-{value.month}-{value.day}"
        )
    if not _lib.icaltime_is_utc(value):
        value = _lib.icaltime_convert_to_zone(value, _lib.icaltimezone_get_utc_timezone())
    return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second)
