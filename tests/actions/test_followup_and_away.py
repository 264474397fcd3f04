"""The bot's finished flows ask "did that solve it?"; while the team is away it offers a ticket.

Against the seeded demo store and the real Redis of the test run.
"""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.cancellation import ActionCancelOrder
from actions.handoff import ActionHumanHandoff, ticket_source
from actions.order_status import ActionOrderStatus
from actions.refunds import ActionRefundStatus
from actions.returns import ActionSubmitReturn
from handoff.core import followup
from handoff.core.errors import ConversationNotFound
from tests.support.trackers import tracker


def verified(order_id, **extra):
    return {"order_id": order_id, "verified_order_id": order_id, **extra}


async def run(action, state, domain, sender="conv-f"):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker(state, sender_id=sender), domain)
    return events, dispatcher.messages


def asked(messages):
    last = messages[-1]
    return last["text"] == followup.QUESTION and last["buttons"] == followup.buttons()


async def test_each_finished_flow_ends_with_the_question_and_records_it(services, domain):
    order = await services.orders.get_order("A1001")
    item = next(i for i in order.items if not i.final_sale)
    flows = [
        (ActionOrderStatus(services), verified("A1002"), "order_status"),
        (ActionRefundStatus(services), verified("A1005"), "refund_status"),
        (
            ActionSubmitReturn(services),
            verified(
                "A1001",
                return_items=[item.sku],
                return_reason="changed_mind",
                return_condition="unused",
            ),
            "return",
        ),
        (ActionCancelOrder(services), verified("A1003", cancel_confirmed=True), "cancellation"),
    ]
    for n, (action, state, flow) in enumerate(flows):
        _, messages = await run(action, state, domain, sender=f"conv-{n}")
        assert len(messages) >= 2 and asked(messages), flow
        pending = await services.followups.pending(f"conv-{n}")
        assert pending["resolver"] == "bot" and pending["reason"] == flow


async def test_a_flow_that_did_not_finish_asks_nothing(services, domain):
    _, messages = await run(
        ActionCancelOrder(services), verified("A1003", cancel_confirmed=False), domain
    )
    assert not asked(messages)
    _, messages = await run(ActionRefundStatus(services), verified("A1003"), domain)
    assert not asked(messages)  # no return yet: nothing was solved
    assert await services.followups.pending("conv-f") is None


async def test_while_the_team_is_away_a_ticket_is_offered_instead_of_the_queue(services, domain):
    await services.availability.set_away("root", "We're at the team offsite until 3 pm.")
    assert await ticket_source(ActionHumanHandoff(services)) == "team_away"
    dispatcher = CollectingDispatcher()
    events = await ActionHumanHandoff(services).run(
        dispatcher, tracker(text="human please", intent="request_human", sender_id="a1"), domain
    )
    [said] = dispatcher.messages
    assert said["text"].startswith("We're at the team offsite until 3 pm.")
    assert "email address" in said["text"]
    assert {"event": "followup", "name": "ticket_form"} in [
        {"event": e["event"], "name": e.get("name")} for e in events if e["event"] == "followup"
    ]
    assert {"event": "slot", "name": "ticket_reason", "value": "request_human"} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]
    with pytest.raises(ConversationNotFound):  # nothing was queued
        await services.handoff.get("a1")
    # Back: the customer is queued for a CSR again.
    await services.availability.clear("root")
    assert await ticket_source(ActionHumanHandoff(services)) == "out_of_hours"
    dispatcher = CollectingDispatcher()
    await ActionHumanHandoff(services).run(
        dispatcher, tracker(text="human please", intent="request_human", sender_id="a1"), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_handoff_queued"
