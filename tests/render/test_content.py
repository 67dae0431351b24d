"""What an activity becomes as a calendar event: times, titles, privacy, identity, broken data."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from feedgen.errors import RenderError
from feedgen.model import Activity, ActivityKind, FeedOptions, Participant, Priority, Status
from feedgen.render.content import FeedView, event_content, event_times, validate
from feedgen.render.events import event_bytes
from tests.render.factories import ANNA, BEN, USERS

CREATED = datetime(2026, 11, 2, 8, 15)
EDITED = datetime(2026, 11, 20, 16, 40, 5)
ACTIVITY_URL = "https://crm.example.com/activities/{id}"


def view(team_id: int | None = None, members: frozenset[int] = frozenset(), **options: object):
    return FeedView(
        FeedOptions(**options),  # type: ignore[arg-type]
        "crm.test",
        ACTIVITY_URL,
        USERS,
        team_id=team_id,
        team_member_ids=members,
    )


def meeting(kind: ActivityKind = ActivityKind.MEETING, **values: object) -> Activity:
    fields: dict[str, object] = {
        "id": 4711,
        "kind": kind,
        "owner_id": ANNA.id,
        "title": "Viewing follow-up: Hauptstraße 5",
        "created_at": CREATED,
        "updated_at": EDITED,
        "description": "Discuss the offer; bring the keys, the floor plan.",
        "location": "Hauptstraße 5, 10115 Berlin",
        "start": datetime(2026, 11, 25, 9, 0),
        "end": datetime(2026, 11, 25, 10, 30),
        "participants": (
            Participant(BEN.name, BEN.email, BEN.id),
            Participant("Clara Vogel", "clara.vogel@gmx.example"),
        ),
    }
    fields.update(values)
    return Activity(**fields)  # type: ignore[arg-type]


def task(**values: object) -> Activity:
    fields: dict[str, object] = {
        "title": "Send the signed contract",
        "start": None,
        "end": None,
        "due": datetime(2026, 11, 26, 17, 0),
        "priority": Priority.NORMAL,
        "participants": (),
        "location": "",
    }
    fields.update(values)
    return meeting(ActivityKind.TASK, **fields)


def ics(activity: Activity, feed_view: FeedView | None = None) -> str:
    """The activity's VEVENT as unfolded text."""
    validate(activity)
    data = event_bytes(event_content(activity, feed_view or view()))
    return data.decode().replace("\r\n ", "")


def lines(activity: Activity, feed_view: FeedView | None = None) -> list[str]:
    return ics(activity, feed_view).split("\r\n")


# --- times ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [ActivityKind.MEETING, ActivityKind.VIEWING, ActivityKind.CALL])
def test_timed_activities_are_written_in_utc(kind: ActivityKind) -> None:
    written = lines(meeting(kind))
    assert "DTSTART:20261125T090000Z" in written
    assert "DTEND:20261125T103000Z" in written


@pytest.mark.parametrize(
    ("kind", "minutes"),
    [(ActivityKind.MEETING, 60), (ActivityKind.VIEWING, 60), (ActivityKind.CALL, 15)],
)
def test_an_activity_without_end_gets_the_default_length(kind: ActivityKind, minutes: int) -> None:
    start = datetime(2026, 11, 25, 14, 0)
    assert event_times(meeting(kind, start=start, end=None)) == (
        start,
        start + timedelta(minutes=minutes),
    )


def test_an_all_day_meeting_over_several_days_ends_the_day_after_its_last_day() -> None:
    trade_fair = meeting(
        title="Expo Real trade fair",
        start=datetime(2026, 11, 25),
        end=datetime(2026, 11, 27),
        all_day=True,
    )
    written = lines(trade_fair)
    assert "DTSTART;VALUE=DATE:20261125" in written
    assert "DTEND;VALUE=DATE:20261128" in written


def test_an_all_day_meeting_without_end_lasts_its_day() -> None:
    offsite = meeting(start=datetime(2026, 11, 25), end=None, all_day=True)
    assert event_times(offsite) == (date(2026, 11, 25), date(2026, 11, 26))


def test_a_task_due_on_a_date_is_an_all_day_event_on_that_day() -> None:
    written = lines(task(due=datetime(2026, 11, 26), all_day=True))
    assert "DTSTART;VALUE=DATE:20261126" in written
    assert "DTEND;VALUE=DATE:20261127" in written


def test_a_timed_task_is_a_quarter_hour_ending_at_its_deadline() -> None:
    assert event_times(task(due=datetime(2026, 11, 26, 17, 0))) == (
        datetime(2026, 11, 26, 16, 45),
        datetime(2026, 11, 26, 17, 0),
    )


def test_a_task_does_not_block_time() -> None:
    assert "TRANSP:TRANSPARENT" in lines(task())


# --- titles and priority ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "summary"),
    [
        (Priority.HIGH, "Task (high priority) · Send the signed contract"),
        (Priority.NORMAL, "Task · Send the signed contract"),
        (Priority.LOW, "Task (low priority) · Send the signed contract"),
    ],
)
def test_a_tasks_title_names_its_priority(priority: Priority, summary: str) -> None:
    assert event_content(task(priority=priority), view()).summary == summary


@pytest.mark.parametrize(
    ("priority", "value"), [(Priority.HIGH, 1), (Priority.NORMAL, 5), (Priority.LOW, 9)]
)
def test_a_tasks_priority_is_written_as_priority(priority: Priority, value: int) -> None:
    assert f"PRIORITY:{value}" in lines(task(priority=priority))


def test_a_done_task_is_checked_off_in_its_title() -> None:
    summary = event_content(task(status=Status.DONE), view()).summary
    assert summary == "✓ Task · Send the signed contract"


@pytest.mark.parametrize(
    ("kind", "summary"),
    [
        (ActivityKind.MEETING, "Viewing follow-up: Hauptstraße 5"),
        (ActivityKind.VIEWING, "Viewing · Viewing follow-up: Hauptstraße 5"),
        (ActivityKind.CALL, "Call · Viewing follow-up: Hauptstraße 5"),
    ],
)
def test_the_title_names_the_kind_except_for_meetings(kind: ActivityKind, summary: str) -> None:
    assert event_content(meeting(kind), view()).summary == summary


def test_an_empty_title_still_gives_a_title() -> None:
    assert event_content(meeting(title="  "), view()).summary == "(no title)"


@pytest.mark.parametrize("location", ["", "\t", " \t "])
def test_a_blank_location_writes_no_location(location: str) -> None:
    # libical (Evolution) rejects a LOCATION of whitespace alone: "No value for LOCATION".
    assert not [line for line in lines(meeting(location=location)) if line.startswith("LOCATION")]


# --- privacy ----------------------------------------------------------------------------------


def test_busy_only_hides_every_detail() -> None:
    private = meeting(
        title="Divorce settlement: sale of Villa Rosen",
        description="Client wants discretion; price 1.2m",
        location="Villa Rosen, Seestraße 9",
    )
    written = ics(private, view(busy_only=True))
    hidden = [
        "Divorce",
        "Villa Rosen",
        "discretion",
        "Seestraße",
        "Ben Li",
        "Clara Vogel",
        "Anna Schmidt",
        "tesoro.example",
        "gmx.example",
        "crm.example.com",
    ]
    assert [text for text in hidden if text in written] == []
    assert "SUMMARY:Busy" in written.split("\r\n")


def test_hidden_emails_write_no_attendee_or_organizer() -> None:
    written = ics(meeting(), view(show_emails=False))
    assert "ATTENDEE" not in written and "ORGANIZER" not in written
    assert "@" not in written.replace("@crm.test", "")


def test_hidden_emails_hide_a_contact_known_only_by_address() -> None:
    unnamed = meeting(participants=(Participant("", "clara.vogel@gmx.example"),))
    written = ics(unnamed, view(show_emails=False))
    assert "clara" not in written.lower() and "gmx" not in written
    description = event_content(unnamed, view(show_emails=False)).description
    assert description is not None and "Participants: Guest" in description


def test_shown_emails_name_a_contact_known_only_by_address() -> None:
    unnamed = meeting(participants=(Participant("", "clara.vogel@gmx.example"),))
    description = event_content(unnamed, view()).description
    assert description is not None and "Participants: clara.vogel@gmx.example" in description


def test_hidden_emails_hide_addresses_typed_into_free_text() -> None:
    typed = meeting(
        title="Call back clara.vogel@gmx.example",
        description="Send the plan to <ben.li@tesoro.example> and mailto:x.y+z@mail.example",
        location="Reception (ask jo@tesoro.example)",
    )
    written = ics(typed, view(show_emails=False))
    assert "@" not in written.replace("@crm.test", "")
    assert "Call back [e-mail hidden]" in event_content(typed, view(show_emails=False)).summary


def test_shown_emails_keep_addresses_in_free_text() -> None:
    typed = meeting(title="Call back clara.vogel@gmx.example")
    assert event_content(typed, view()).summary == "Call back clara.vogel@gmx.example"


def test_shown_emails_name_organizer_and_attendees() -> None:
    written = lines(meeting())
    assert 'ORGANIZER;CN="Anna Schmidt":mailto:anna.schmidt@tesoro.example' in written
    assert 'ATTENDEE;CN="Ben Li":mailto:ben.li@tesoro.example' in written
    assert 'ATTENDEE;CN="Clara Vogel":mailto:clara.vogel@gmx.example' in written


@pytest.mark.parametrize(
    "email",
    [
        "clara vogel@gmx.example",
        '"clara"@gmx.example',
        "Clara Vogel <clara.vogel@gmx.example>",
        "<clara.vogel@gmx.example>",
        "clara.vogel@gmx.example\r\nBEGIN:VEVENT",
        "clara.vogel@gmx.example\nATTENDEE:mailto:x@evil.example",
        "clara.vogel@gmx.example;RSVP=TRUE",
        "clara.vogel@gmx.example:8080",
        "clara.vogel@gmx.example,eve@evil.example",
    ],
)
def test_an_unsafe_email_is_never_written(email: str) -> None:
    contact = Participant("Clara Vogel", email)
    written = ics(meeting(participants=(contact, Participant(BEN.name, BEN.email, BEN.id))))
    attendees = [line for line in written.split("\r\n") if line.startswith("ATTENDEE")]
    assert attendees == ['ATTENDEE;CN="Ben Li":mailto:ben.li@tesoro.example']
    assert "evil.example" not in written and "gmx.example" not in written


def test_an_owner_with_an_unsafe_email_is_no_organizer() -> None:
    users = {**USERS, ANNA.id: replace(ANNA, email="Anna Schmidt <anna@tesoro.example>")}
    feed_view = FeedView(FeedOptions(), "crm.test", ACTIVITY_URL, users)
    assert event_content(meeting(), feed_view).organizer is None


# --- team feeds -------------------------------------------------------------------------------


def test_a_team_feed_names_the_members_in_the_title() -> None:
    team_view = view(team_id=5, members=frozenset({ANNA.id, BEN.id}))
    summary = event_content(meeting(ActivityKind.VIEWING), team_view).summary
    assert summary == "Anna Schmidt, Ben Li: Viewing · Viewing follow-up: Hauptstraße 5"


def test_a_team_feed_uses_its_own_uid() -> None:
    team_view = view(team_id=5, members=frozenset({ANNA.id, BEN.id}))
    own, team = event_content(meeting(), view()), event_content(meeting(), team_view)
    assert (own.uid, team.uid) == ("activity-4711@crm.test", "activity-4711.team-5@crm.test")


# --- identity and versions --------------------------------------------------------------------


def test_the_sequence_grows_with_every_edit() -> None:
    sequences = [
        event_content(meeting(updated_at=EDITED + timedelta(minutes=m)), view()).sequence
        for m in (0, 1, 90, 60 * 24 * 30)
    ]
    assert sequences == sorted(sequences) and len(set(sequences)) == 4


def test_the_stamp_is_the_last_edit() -> None:
    assert "DTSTAMP:20261120T164005Z" in lines(meeting())


@pytest.mark.parametrize(
    "edit",
    [
        {"title": "Viewing moved: Hauptstraße 7"},
        {"start": datetime(2026, 12, 1, 8, 0), "end": datetime(2026, 12, 1, 9, 0)},
        {"location": "Online"},
        {"kind": ActivityKind.VIEWING},
        {"owner_id": BEN.id},
        {"participants": ()},
        {"updated_at": EDITED + timedelta(days=2)},
        {"status": Status.DONE},
    ],
    ids=lambda edit: "+".join(edit),
)
def test_the_uid_does_not_change_with_an_edit(edit: dict[str, object]) -> None:
    before, after = meeting(), replace(meeting(), **edit)
    assert event_content(after, view()).uid == event_content(before, view()).uid


@pytest.mark.parametrize(
    "template",
    [
        ACTIVITY_URL,
        "https://crm.example.com/activities/{id}/edit?from=calendar",
        "https://crm.example.com/a?id={id}&again={id}",
        "https://crm.example.com/a/{id:08d}",
        "https://crm.example.com/a/{{literal}}/{id}",
    ],
)
def test_the_activity_url_is_its_template_formatted_with_the_id(template: str) -> None:
    shown = replace(view(), activity_url=template)
    content = event_content(meeting(), shown)
    assert content.url == template.format(id=4711)
    assert content.description is not None
    assert content.description.endswith(f"Edit in the CRM: {template.format(id=4711)}")


def test_the_uid_holds_the_activity_id_and_the_domain() -> None:
    assert event_content(meeting(id=90210), view()).uid == "activity-90210@crm.test"


# --- broken data ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (meeting(end=datetime(2026, 11, 24, 9, 0)), "ends before it starts"),
        (meeting(start=None, end=None), "meeting has no start time"),
        (meeting(ActivityKind.CALL, start=None, end=None), "call has no start time"),
        (meeting(start=datetime(9999, 1, 4, 9), end=datetime(9999, 1, 4, 10)), "out of range"),
        (meeting(end=datetime(9999, 12, 31)), "out of range"),
        (task(due=datetime(9999, 12, 31)), "out of range"),
        (task(due=None), "task has no deadline"),
        (meeting(end=datetime(2027, 12, 1, 9, 0)), "lasts more than a year"),
    ],
    ids=[
        "end-before-start",
        "meeting-without-start",
        "call-without-start",
        "year-9999",
        "end-in-year-9999",
        "task-due-in-year-9999",
        "task-without-deadline",
        "longer-than-a-year",
    ],
)
def test_broken_data_raises_a_render_error_naming_the_activity(
    broken: Activity, reason: str
) -> None:
    with pytest.raises(RenderError, match=f"^activity 4711: .*{reason}") as raised:
        validate(broken)
    assert raised.value.activity_id == 4711


def test_a_meeting_of_exactly_a_year_is_valid() -> None:
    validate(meeting(start=datetime(2026, 1, 1), end=datetime(2027, 1, 1), all_day=True))
