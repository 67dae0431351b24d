"""The same events through icalendar's object model: the reference the fast serialiser is held to.

``feedgen.render.events.event_bytes`` must equal ``event_component(c).to_ical()`` byte for byte
(tested with generated data), and a feed's header ``calendar_component``'s."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar, Event, vDuration, vText

from feedgen.render.content import EventContent
from feedgen.render.todo import add_common, aware_utc


def event_component(content: EventContent) -> Event:
    event = Event()
    event.add("dtstart", aware_utc(content.start))
    event.add("dtend", aware_utc(content.end))
    event.add("transp", "TRANSPARENT" if content.transparent else "OPAQUE")
    add_common(event, content)
    return event


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
