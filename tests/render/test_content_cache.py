"""The people on events are cached apart: thousands of outside contacts pass through without
pushing the colleagues, who recur on every feed of a batch, out of their cache."""

from __future__ import annotations

from dataclasses import replace

from feedgen.model import Participant
from feedgen.render import content
from feedgen.render.content import event_content
from tests.render.factories import BEN
from tests.render.test_content import meeting, view


def test_outside_contacts_do_not_push_colleagues_out_of_the_cache() -> None:
    content._person.cache_clear()
    feed_view = view()
    with_ben = meeting(participants=(Participant(BEN.name, BEN.email, BEN.id),))
    event_content(with_ben, feed_view)
    for i in range(5_000):  # a CRM's buyers and sellers, each on one viewing
        buyer = Participant(f"Buyer {i}", f"buyer{i}@mail.example")
        event_content(replace(with_ben, id=i, participants=(buyer,)), feed_view)
    misses = content._person.cache_info().misses
    attendees = event_content(with_ben, feed_view).attendees
    assert attendees is not None and attendees[0].email == BEN.email
    assert content._person.cache_info().misses == misses  # Ben and Anna were still cached


def test_a_contact_on_many_events_is_made_once() -> None:
    content._contact.cache_clear()
    feed_view = view()
    buyer = Participant("Clara Vogel", "clara.vogel@gmx.example")
    for i in range(50):
        event_content(meeting(id=i, participants=(buyer,)), feed_view)
    assert content._contact.cache_info().misses == 1
