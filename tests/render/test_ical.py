"""The fast serialiser against icalendar, byte for byte, on generated events."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from datetime import date, datetime, timedelta
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar.parser.string import _foldline

import feedgen
from feedgen.render import events as render
from feedgen.render.content import EventContent, Person
from feedgen.render.events import event_bytes
from feedgen.render.header import CalendarHeader
from feedgen.render.ical import fmt_duration, fold
from tests.render import reference

# Plain ASCII with the characters that escaping adds or folding must not split after (``\`` and
# ``^``): the folding fast path for ASCII lines, and its fallback when an escape ends a chunk.
ascii_text = st.text(alphabet="aN ,;:\\^\r\n\"'", max_size=400)
any_text = st.one_of(st.text(min_size=0, max_size=300), ascii_text)
names = st.text(min_size=1, max_size=80)
emails = st.from_regex(r"\A[a-z0-9._%+-]{1,20}@[a-z0-9-]{1,15}\.[a-z]{2,6}\Z")
instants = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(microsecond=0)
)
days = st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 1, 1))
people = st.builds(Person, names, emails)


@st.composite
def contents(draw: st.DrawFn) -> EventContent:
    all_day = draw(st.booleans())
    start: date | datetime
    if all_day:
        start = draw(days)
        end: date | datetime = start + timedelta(days=draw(st.integers(1, 30)))
    else:
        start = draw(instants)
        end = start + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    return EventContent(
        uid=draw(st.from_regex(r"\Aactivity-[0-9]{1,9}(\.team-[0-9]{1,4})?@[a-z.]{1,20}\Z")),
        summary=draw(any_text),
        start=start,
        end=end,
        stamp=draw(instants),
        sequence=draw(st.integers(0, 2**31 - 1)),
        category=draw(st.sampled_from(["Meeting", "Viewing", "Call", "Task", "Busy"])),
        transparent=draw(st.booleans()),
        description=draw(st.none() | any_text),
        location=draw(st.none() | any_text),
        organizer=draw(st.none() | people),
        attendees=tuple(draw(st.lists(people, max_size=4))),
        priority=draw(st.none() | st.sampled_from([1, 5, 9])),
        url=draw(st.none() | st.from_regex(r"\Ahttps://crm\.example\.com/a/[0-9]{1,9}\Z")),
        alarm_minutes=draw(st.none() | st.integers(0, 40320)),
    )


def python_event_bytes(content: EventContent) -> bytes:
    """``event_bytes`` with the Python serialiser, where the C one is built."""
    with (
        patch.object(render, "event_body", render.py_event_body),
        patch.object(render, "text_line_bytes", render.py_text_line),
    ):
        return event_bytes(content)


SERIALISERS = {"python": python_event_bytes}
if render._speedups is not None:
    SERIALISERS["c"] = event_bytes


@pytest.mark.parametrize("serialise", SERIALISERS.values(), ids=SERIALISERS.keys())
@settings(max_examples=400, deadline=None)
@given(content=contents())
def test_event_bytes_equal_icalendar(
    serialise: Callable[[EventContent], bytes], content: EventContent
) -> None:
    assert serialise(content) == reference.event_component(content).to_ical()


# Where escaping rules meet: icalendar first turns "\N" into a line break, which then pairs with
# a CR before it; backslashes double; parameter values escape ^, quotes and breaks (RFC 6868).
TANGLES = ["\r\\N", "\\\\N", "\r\r\n", "a\\", "\\N\n", '^"\r\n^n', "x,y;z:\u2019", "it's"]


@pytest.mark.parametrize("serialise", SERIALISERS.values(), ids=SERIALISERS.keys())
@pytest.mark.parametrize("text", TANGLES)
def test_tangled_escapes_equal_icalendar(
    serialise: Callable[[EventContent], bytes], text: str
) -> None:
    content = EventContent(
        uid="activity-1@crm.test",
        summary=text,
        start=datetime(2026, 11, 24, 9),
        end=datetime(2026, 11, 24, 10),
        stamp=datetime(2026, 11, 1, 8),
        sequence=3,
        category="Meeting",
        transparent=False,
        description=text * 30,
        location=text,
        organizer=Person(text, "anna@crm.test"),
        attendees=(Person(text, "ben@crm.test"),),
    )
    assert serialise(content) == reference.event_component(content).to_ical()


@pytest.mark.skipif(
    shutil.which("cc") is None or bool(os.environ.get("FEEDGEN_NO_SPEEDUPS")),
    reason="no C compiler, or the C serialiser turned off: the Python serialiser only",
)
def test_the_c_serialiser_is_built_where_a_compiler_is() -> None:
    assert render.event_body is not render.py_event_body


def serialiser_of_a_copy(tmp_path: Path, extension: bytes | None = None, **env: str) -> str:
    """``SERIALISER`` as a new process reads it from a copy of feedgen without its C build, as
    after an install without a C compiler; ``extension``: the bytes of a broken build instead."""
    package = Path(feedgen.__file__).parent
    unbuilt = shutil.ignore_patterns("*.so", "*.pyd", "__pycache__")
    shutil.copytree(package, tmp_path / package.name, ignore=unbuilt)
    if extension is not None:
        home = tmp_path / package.name  # the C module lies in the package's root
        (home / f"_speedups{EXTENSION_SUFFIXES[0]}").write_bytes(extension)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FEEDGEN_")}
    # -S: no .pth files, so an editable install's finder cannot lend the tree's build.
    path = [str(tmp_path), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    code = f"from {render.__name__} import SERIALISER; print(SERIALISER)"
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": os.pathsep.join(path), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_without_the_c_serialiser_feedgen_says_why_and_what_to_do(tmp_path: Path) -> None:
    said = serialiser_of_a_copy(tmp_path)
    assert said.startswith("Python (the C serialiser was not built")
    assert "without a C compiler" in said and "the same bytes" in said and "reinstall" in said


def test_a_c_serialiser_that_does_not_load_is_reported_with_its_error(tmp_path: Path) -> None:
    said = serialiser_of_a_copy(tmp_path, extension=b"not a shared object")
    assert said.startswith("Python (the C serialiser did not load: ")
    assert "_speedups" in said


def test_feedgen_no_speedups_is_named_as_the_reason(tmp_path: Path) -> None:
    said = serialiser_of_a_copy(tmp_path, FEEDGEN_NO_SPEEDUPS="1")
    assert said == "Python (FEEDGEN_NO_SPEEDUPS is set)"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.integers(5, 10080))
def test_calendar_header_equals_icalendar(name: str, minutes: int) -> None:
    header = CalendarHeader(name, minutes)
    theirs = reference.calendar_component(header.name, timedelta(minutes=minutes))
    assert header.to_bytes() + b"END:VCALENDAR\r\n" == theirs.to_ical()


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=600), ascii_text))
def test_fold_equals_icalendar(line: str) -> None:
    line = line.replace("\r", "").replace("\n", "")
    assert fold(line) == _foldline(line).encode()


@pytest.mark.parametrize("escape", ["\\", "^"])
@pytest.mark.parametrize("at", [72, 73, 74, 147])
def test_an_ascii_fold_never_ends_a_line_in_an_escape_character(escape: str, at: int) -> None:
    line = "x" * at + escape + "y" * 200
    assert fold(line) == _foldline(line).encode()


@given(st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30)))
def test_duration_equals_icalendar(value: timedelta) -> None:
    from icalendar import vDuration

    value = timedelta(seconds=int(value.total_seconds()))
    assert fmt_duration(value).encode() == vDuration(value).to_ical()
