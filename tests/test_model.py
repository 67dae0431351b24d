"""The model's values: feed options validated where they are made, windows of whole days, and
SEQUENCE counted within RFC 5545's INTEGER."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from feedgen.model import (
    MAX_SEQUENCE,
    ActivityKind,
    FeedOptions,
    Window,
    next_sequence,
    sequence_floor,
    utc_now,
)


def test_options_refuse_notes() -> None:
    with pytest.raises(ValueError, match="notes have no time"):
        FeedOptions(kinds=frozenset({ActivityKind.MEETING, ActivityKind.NOTE}))


def test_options_refuse_an_empty_choice_of_kinds() -> None:
    with pytest.raises(ValueError, match="choose at least one"):
        FeedOptions(kinds=frozenset())


@pytest.mark.parametrize("days", [-1, 3661])
def test_options_refuse_a_window_out_of_range(days: int) -> None:
    with pytest.raises(ValueError, match="days_back: a whole number of days from 0 to 3660"):
        FeedOptions(days_back=days)


def test_options_survive_their_json() -> None:
    options = FeedOptions(
        kinds=frozenset({ActivityKind.CALL, ActivityKind.TASK}),
        days_back=7,
        busy_only=True,
        reminder_minutes=15,
    )
    assert FeedOptions.from_json(options.to_json()) == options


def test_options_json_names_an_unknown_option() -> None:
    with pytest.raises(ValueError, match="unknown feed option\\(s\\): colour"):
        FeedOptions.from_json('{"colour": "red"}')


def test_no_stored_options_are_the_defaults() -> None:
    assert FeedOptions.from_json(None) == FeedOptions() == FeedOptions.from_json("")


def test_a_window_covers_whole_days_around_today() -> None:
    window = Window.around(date(2026, 11, 24), days_back=2, days_ahead=3)
    assert (window.start, window.end) == (datetime(2026, 11, 22), datetime(2026, 11, 28))


def test_the_sequence_floor_counts_whole_seconds_since_creation() -> None:
    created = datetime(2026, 11, 1, 8, 0, 0, 900_000)
    assert sequence_floor(created, datetime(2026, 11, 1, 8, 0, 2, 100_000)) == 2


def test_the_sequence_floor_stays_an_rfc_5545_integer() -> None:
    assert sequence_floor(datetime(1900, 1, 1), datetime(2199, 12, 31)) == MAX_SEQUENCE == 2**31 - 1


def test_each_observed_version_raises_the_sequence() -> None:
    assert next_sequence(None, 40) == 40
    assert next_sequence(40, 40) == 41
    assert next_sequence(41, 90) == 90
    assert next_sequence(MAX_SEQUENCE, 0) == MAX_SEQUENCE


def test_the_clock_is_naive_utc_in_whole_seconds() -> None:
    now = utc_now()
    assert now.tzinfo is None and now.microsecond == 0
