"""The same events through icalendar's object model: the reference the fast path is held to.

``render.event_bytes`` must equal ``event_component(c).to_ical()`` byte for byte (tested with
generated data). Rare shapes the fast path does not cover, such as VTODO, are rendered here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from icalendar import Alarm, Calendar, Event, Todo, vCalAddress, vDuration, vText

from .content import EventContent, Person


def _utc(value: date | datetime) -> date | datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return value


def _address(person: Person) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = person.name or str(person.email)
    return address


def _add_common(component: Event | Todo, content: EventContent) -> None:
    component.add("summary", content.summary)
    component.add("dtstamp", _utc(content.stamp))
    component.add("uid", content.uid)
    component.add("sequence", content.sequence)
    for person in content.attendees:
        component.add("attendee", _address(person))
    component.add("categories", vText(content.category))
    if content.description is not None:
        component.add("description", content.description)
    component.add("last-modified", _utc(content.stamp))
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


def event_component(content: EventContent) -> Event:
    event = Event()
    event.add("dtstart", _utc(content.start))
    event.add("dtend", _utc(content.end))
    event.add("transp", "TRANSPARENT" if content.transparent else "OPAQUE")
    _add_common(event, content)
    return event


def todo_bytes(content: EventContent, done: bool) -> bytes:
    """A task as VTODO, for the feeds that ask for it; DUE is the deadline."""
    todo = Todo()
    # A date-only deadline is due on its day; the event form's end is the exclusive day after.
    due = content.end if isinstance(content.start, datetime) else content.start
    todo.add("due", _utc(due))
    todo.add("status", "COMPLETED" if done else "NEEDS-ACTION")
    _add_common(todo, content)
    return bytes(todo.to_ical())


def calendar_component(name: str, ttl: timedelta) -> Calendar:
    calendar = Calendar()
    calendar.add("version", "2.0")
    calendar.add("prodid", "-//Tesoro CRM//feedgen//EN")
    calendar.add("calscale", "GREGORIAN")
    # icalendar leaves unknown and X- properties unescaped: give them TEXT and DURATION types.
    if name:
        calendar.add("name", vText(name))
        calendar.add("x-wr-calname", vText(name))
    calendar.add("refresh-interval", ttl, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(ttl))
    return calendar
