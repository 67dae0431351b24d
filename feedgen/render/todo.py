"""Tasks as VTODO, through icalendar's object model, for the feeds that ask for them (most
clients ignore VTODO in subscriptions, so this path is rare and needs no speed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from icalendar import Alarm, Event, Todo, vCalAddress, vText

from .content import EventContent, Person


def aware_utc(value: date | datetime) -> date | datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return value


def _address(person: Person) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = person.name or str(person.email)
    return address


def add_common(component: Event | Todo, content: EventContent) -> None:
    component.add("summary", content.summary)
    component.add("dtstamp", aware_utc(content.stamp))
    component.add("uid", content.uid)
    component.add("sequence", content.sequence)
    for person in content.attendees:
        component.add("attendee", _address(person))
    component.add("categories", vText(content.category))
    if content.description is not None:
        component.add("description", content.description)
    component.add("last-modified", aware_utc(content.stamp))
    if content.location is not None:
        component.add("location", content.location)
    if content.organizer is not None:
        component.add("organizer", _address(content.organizer))
    if content.priority is not None:
        component.add("priority", content.priority)
    if content.url is not None:
        component.add("url", content.url)
    if content.alarm_minutes is not None:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", content.summary)
        alarm.add("trigger", timedelta(minutes=-content.alarm_minutes))
        component.add_component(alarm)


def todo_bytes(content: EventContent, done: bool) -> bytes:
    """A task as VTODO, for the feeds that ask for it; DUE is the deadline."""
    todo = Todo()
    # A date-only deadline is due on its day; the event form's end is the exclusive day after.
    due = content.end if isinstance(content.start, datetime) else content.start
    todo.add("due", aware_utc(due))
    todo.add("status", "COMPLETED" if done else "NEEDS-ACTION")
    add_common(todo, content)
    return bytes(todo.to_ical())
