"""Rendering: activities in, feed bytes out. Pure: no database, no storage, no clock.

    content   what an activity looks like as an event (the decisions, independent of bytes)
    ical      RFC 5545 text primitives: escaping, folding, dates
    header    a feed's calendar header and footer, and the view its events are rendered with
    events    one event's bytes (the fast serialiser, in C when built) and the event cache
    feed      a whole feed: which events, in which order, within the size budget
    todo      tasks as VTODO, through icalendar, for the feeds that ask for it
    patch     a feed's last bytes with some events replaced: the same bytes as a full build

Imports the base modules (model, errors, config) and nothing else of feedgen.
"""
