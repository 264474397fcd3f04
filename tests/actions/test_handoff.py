"""Escalation into the live CSR queue, against the real Redis of the test run."""

from __future__ import annotations

from dataclasses import replace

from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import (
    ActionCoreFallback,
    ActionCreateTicket,
    ActionHandleFallback,
    ActionHumanHandoff,
)
from actions.order_status import ActionOrderStatus
from actions.orders.adapter import OrderSystemUnavailable
from handoff.core.lifecycle import State
from tests.support.actions import NeverOpen, texts
from tests.support.trackers import tracker

EARLIER = [
    {
        "event": "user",
        "text": "where is my order",
        "timestamp": 0.5,
        "parse_data": {"intent": {"name": "order_status", "confidence": 0.97}},
    },
    {"event": "bot", "text": "What's your order number?", "timestamp": 0.6},
]


async def test_asking_for_a_person_queues_the_conversation_with_its_context_and_pauses_the_bot(
    services, domain
):
    dispatcher = CollectingDispatcher()
    state = {"order_id": "A1002", "verified_order_id": "A1002", "verification": "94107"}
    events = await ActionHumanHandoff(services).run(
        dispatcher,
        tracker(
            state,
            text="get me a human",
            intent="request_human",
            confidence=0.93,
            history=EARLIER,
            sender_id="conv-1",
        ),
        domain,
    )
    assert {"event": "pause"} in [{"event": e["event"]} for e in events]
    assert dispatcher.messages[0]["response"] == "utter_handoff_queued"
    assert dispatcher.messages[0]["position"] == 1

    conv = await services.handoff.get("conv-1")
    assert conv.state is State.QUEUED and conv.reason == "request_human"
    assert abs(conv.confidence - 0.93) < 1e-6
    assert conv.context["order"]["order_id"] == "A1002"
    assert conv.context["page_url"] == "https://shop.example/orders"
    assert "verification" not in conv.context["slots"]  # the proof a customer typed stays private
    lines = await services.handoff.transcript("conv-1")
    assert [line["sender"] for line in lines] == ["customer", "bot", "customer"]
    assert lines[0]["intent"] == "order_status"


async def test_a_complaint_is_queued_with_a_higher_priority(services, domain):
    await ActionHumanHandoff(services).run(
        CollectingDispatcher(),
        tracker(text="worst service ever", intent="complain", sender_id="c1"),
        domain,
    )
    await ActionHumanHandoff(services).run(
        CollectingDispatcher(),
        tracker(text="a person please", intent="request_human", sender_id="c2"),
        domain,
    )
    queue = await services.handoff.queue()
    assert [c.id for c in queue] == ["c1", "c2"]
    assert queue[0].reason == "complaint" and queue[0].priority == "high"


async def test_the_first_misunderstanding_asks_to_rephrase_the_second_escalates(services, domain):
    dispatcher = CollectingDispatcher()
    events = await ActionHandleFallback(services).run(
        dispatcher,
        tracker(text="blorp", intent="nlu_fallback", confidence=0.3, sender_id="f1"),
        domain,
    )
    assert events == [] and dispatcher.messages[0]["response"] == "utter_ask_rephrase"

    missed = [
        {
            "event": "user",
            "text": "blorp",
            "timestamp": 0.5,
            "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.3}},
        }
    ]
    dispatcher = CollectingDispatcher()
    events = await ActionHandleFallback(services).run(
        dispatcher,
        tracker(text="zorp", intent="nlu_fallback", confidence=0.2, history=missed, sender_id="f1"),
        domain,
    )
    assert any(e["event"] == "pause" for e in events)
    conv = await services.handoff.get("f1")
    assert conv.reason == "nlu_fallback" and abs(conv.confidence - 0.2) < 1e-6


RESTART = {"event": "restart", "timestamp": 0.7}


async def test_a_misunderstanding_before_a_restart_does_not_count(services, domain):
    missed = [
        {
            "event": "user",
            "text": "blorp",
            "timestamp": 0.5,
            "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.3}},
        },
        {"event": "action", "name": "action_handle_fallback", "timestamp": 0.6},
    ]
    for taken_back in ([RESTART], [{"event": "rewind", "timestamp": 0.7}]):
        dispatcher = CollectingDispatcher()
        events = await ActionHandleFallback(services).run(
            dispatcher,
            tracker(
                text="zorp",
                intent="nlu_fallback",
                confidence=0.2,
                history=[{"event": "action", "name": "action_listen"}, *missed, *taken_back],
                sender_id="f2",
            ),
            domain,
        )
        assert events == [] and dispatcher.messages[0]["response"] == "utter_ask_rephrase"
    assert await services.handoff.queue() == []


async def test_the_csr_context_leaves_out_what_came_before_a_restart(services, domain):
    await ActionHumanHandoff(services).run(
        CollectingDispatcher(),
        tracker(
            text="get me a human",
            intent="request_human",
            history=[*EARLIER, {"event": "action", "name": "action_order_status"}, RESTART],
            sender_id="conv-r",
        ),
        domain,
    )
    lines = await services.handoff.transcript("conv-r")
    assert [(line["sender"], line["text"]) for line in lines] == [("customer", "get me a human")]
    conv = await services.handoff.get("conv-r")
    assert conv.context["summary"] == "1 customer messages; topics: request_human"


async def test_an_unreachable_order_system_escalates_with_reason_action_failed(services, domain):
    class Down:
        async def get_order(self, order_id):
            raise OrderSystemUnavailable("timeout")

    services.orders = Down()
    dispatcher = CollectingDispatcher()
    events = await ActionOrderStatus(services).run(
        dispatcher,
        tracker({"order_id": "A1001", "order_system_unavailable": True}, sender_id="down"),
        domain,
    )
    assert dispatcher.messages[0]["response"] == "utter_order_system_down"
    assert any(e["event"] == "pause" for e in events)
    conv = await services.handoff.get("down")
    assert conv.reason == "action_failed" and conv.priority == "high"
    assert conv.context["order"] == {"order_id": "A1001", "verified": False}


async def test_outside_business_hours_the_customer_can_leave_an_email_for_a_ticket(
    services, domain
):
    services.handoff_config = replace(services.handoff_config, business_hours=NeverOpen())
    dispatcher = CollectingDispatcher()
    events = await ActionHumanHandoff(services).run(
        dispatcher, tracker(text="human please", intent="request_human", sender_id="t1"), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_offer_ticket"
    assert {"event": "followup", "name": "ticket_form"} in [
        {"event": e["event"], "name": e.get("name")} for e in events if e["event"] == "followup"
    ]

    dispatcher = CollectingDispatcher()
    await ActionCreateTicket(services).run(
        dispatcher,
        tracker(
            {"ticket_email": "sam@example.com", "ticket_reason": "request_human"}, sender_id="t1"
        ),
        domain,
    )
    assert dispatcher.messages[0]["response"] == "utter_ticket_created"
    conv = await services.handoff.get("t1")
    assert conv.state is State.TICKET and conv.ticket_email == "sam@example.com"
    [ticket] = await services.tickets.list()
    assert ticket.conversation_id == "t1" and ticket.email == "sam@example.com"
    assert ticket.source == "out_of_hours" and ticket.reason == "request_human"
    assert dispatcher.messages[0]["ticket_id"] == ticket.id
    assert (
        "sam@example.com" in texts(dispatcher)
        or dispatcher.messages[0]["email"] == "sam@example.com"
    )


async def test_a_core_fallback_escalates_with_the_message_confidence(services, domain):
    events = await ActionCoreFallback(services).run(
        CollectingDispatcher(),
        tracker(text="uh so", intent="affirm", confidence=0.41, sender_id="core"),
        domain,
    )
    assert any(e["event"] == "pause" for e in events)
    conv = await services.handoff.get("core")
    assert conv.reason == "core_fallback" and abs(conv.confidence - 0.41) < 1e-6
