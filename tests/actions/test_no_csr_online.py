"""In business hours with no CSR's console open, the bot offers a ticket instead of the queue.

Against the real Redis of the test run: presence is what the consoles' sockets write
(:class:`handoff.core.presence.Presence`).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import ConnectionError as RedisConnectionError

from actions.handoff import (
    NO_CSR_TICKET_TEXT,
    ActionCreateTicket,
    ActionHumanHandoff,
    ticket_source,
)
from handoff.core.errors import ConversationNotFound
from handoff.core.lifecycle import State
from handoff.core.presence import Presence
from tests.support.actions import NeverOpen, slot_values
from tests.support.clocks import FakeClock
from tests.support.trackers import tracker


@pytest.fixture
def services(services):
    """The action tests' services with the setting on (their default turns it off)."""
    config = services.handoff_config
    services.handoff_config = replace(
        config, tickets=replace(config.tickets, offer_when_no_csr_online=True)
    )
    return services


async def ask_for_a_person(services, domain, sender="n1"):
    dispatcher = CollectingDispatcher()
    events = await ActionHumanHandoff(services).run(
        dispatcher, tracker(text="human please", intent="request_human", sender_id=sender), domain
    )
    return events, dispatcher.messages


def offered_a_ticket(events):
    followups = [e.get("name") for e in events if e["event"] == "followup"]
    return followups == ["ticket_form"] and slot_values(events) == {
        "ticket_reason": "request_human"
    }


async def test_with_nobody_online_a_ticket_is_offered_and_left_with_source_no_csr(services, domain):
    assert await ticket_source(ActionHumanHandoff(services)) == "no_csr"
    events, [said] = await ask_for_a_person(services, domain)
    assert said["text"] == NO_CSR_TICKET_TEXT and "email address" in said["text"]
    assert offered_a_ticket(events)
    assert not any(e["event"] == "pause" for e in events)
    with pytest.raises(ConversationNotFound):  # nothing was queued for nobody
        await services.handoff.get("n1")

    dispatcher = CollectingDispatcher()
    await ActionCreateTicket(services).run(
        dispatcher,
        tracker(
            {"ticket_email": "sam@example.com", "ticket_reason": "request_human"}, sender_id="n1"
        ),
        domain,
    )
    assert dispatcher.messages[0]["response"] == "utter_ticket_created"
    [ticket] = await services.tickets.list()
    assert ticket.source == "no_csr" and ticket.conversation_id == "n1"
    assert (await services.handoff.get("n1")).state is State.TICKET
    [opened] = await services.tickets.thread(ticket.id)
    assert "while no CSR was online" in opened["text"]


def consoles(services, clock):
    """The presence the actions read, on the test's clock."""
    presence = Presence(services.resources.redis, clock=clock)
    services.resources.__dict__["presence"] = presence  # the cached_property's slot
    return presence


async def test_a_csr_seen_recently_gets_the_customer_in_the_queue(services, domain):
    clock = FakeClock()
    await consoles(services, clock).seen("alice")
    clock.advance(services.handoff_config.tickets.presence_seconds)  # just within
    assert await ticket_source(ActionHumanHandoff(services)) == "out_of_hours"
    events, messages = await ask_for_a_person(services, domain)
    assert messages[0]["response"] == "utter_handoff_queued"
    assert {"event": "pause"} in [{"event": e["event"]} for e in events]
    assert (await services.handoff.get("n1")).state is State.QUEUED


async def test_a_console_closed_longer_ago_than_presence_seconds_is_nobody(services, domain):
    clock = FakeClock()
    await consoles(services, clock).seen("alice")
    clock.advance(services.handoff_config.tickets.presence_seconds + 1)
    events, _ = await ask_for_a_person(services, domain)
    assert offered_a_ticket(events)


async def test_with_the_setting_off_the_customer_is_queued_for_whoever_comes(services, domain):
    config = services.handoff_config
    services.handoff_config = replace(
        config, tickets=replace(config.tickets, offer_when_no_csr_online=False)
    )
    assert await ticket_source(ActionHumanHandoff(services)) == "out_of_hours"
    events, messages = await ask_for_a_person(services, domain)
    assert messages[0]["response"] == "utter_handoff_queued"
    assert (await services.handoff.get("n1")).state is State.QUEUED


async def test_out_of_hours_and_away_come_first(services, domain):
    await services.availability.set_away("root", "Team offsite.")
    assert await ticket_source(ActionHumanHandoff(services)) == "team_away"
    _, [said] = await ask_for_a_person(services, domain)
    assert said["text"].startswith("Team offsite.")
    await services.availability.clear("root")
    services.handoff_config = replace(services.handoff_config, business_hours=NeverOpen())
    assert await ticket_source(ActionHumanHandoff(services)) == "out_of_hours"
    _, messages = await ask_for_a_person(services, domain)
    assert messages[0]["response"] == "utter_offer_ticket"


async def test_presence_unreadable_does_not_block_the_escalation(
    services, domain, monkeypatch, caplog
):
    async def unreachable(self, within_seconds):
        raise RedisConnectionError("presence is away")

    monkeypatch.setattr(Presence, "anyone_online", unreachable)
    with caplog.at_level(logging.WARNING, logger="actions.handoff"):
        events, messages = await ask_for_a_person(services, domain)
    assert messages[0]["response"] == "utter_handoff_queued"  # treated as someone online
    assert (await services.handoff.get("n1")).state is State.QUEUED
    assert "could not read whether a CSR is online" in caplog.text


async def test_redis_down_says_the_queue_is_unreachable_rather_than_offering_a_ticket(
    services, domain
):
    services.handoff_config = replace(services.handoff_config, redis_url="redis://127.0.0.1:1/0")
    events, messages = await ask_for_a_person(services, domain)
    assert messages[0]["response"] == "utter_handoff_unavailable"
    assert not offered_a_ticket(events)


async def test_declining_the_ticket_says_a_person_can_be_asked_for_again_any_time(services, domain):
    dispatcher = CollectingDispatcher()
    await ActionCreateTicket(services).run(
        dispatcher, tracker({"ticket_reason": "request_human"}, sender_id="n2"), domain
    )
    # Not "during our opening hours": it is opening hours, nobody is online yet.
    assert dispatcher.messages[0]["text"] == (
        "No problem. You can ask for a person again any time."
    )
