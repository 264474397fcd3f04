"""Returns, refunds and cancellations against the seeded demo store."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.cancellation import ActionCancelOrder, ValidateCancelForm
from actions.formatting import money
from actions.orders.records import OrderStatus
from actions.refunds import ActionRefundStatus
from actions.returns import (
    RETURN_SLOTS,
    ActionSubmitReturn,
    ValidateReturnForm,
    classify,
    pick_items,
)
from actions.returns_policy import ReturnPolicy
from tests.support.actions import slot_values, texts
from tests.support.orders import TODAY
from tests.support.trackers import tracker


def verified(order_id, **extra):
    return {"order_id": order_id, "verified_order_id": order_id, **extra}


async def run(action, domain, state, just_set=None, loop=None):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker(state, just_set, active_loop=loop), domain)
    return slot_values(events), texts(dispatcher)


async def test_a_returnable_order_asks_for_items_reason_and_condition(services, domain):
    order = await services.orders.get_order("A1001")
    slots, _ = await run(
        ValidateReturnForm(services), domain, {}, {"order_id": "A1001"}, "return_form"
    )
    assert "request_blocked" not in slots or not slots["request_blocked"]
    # A1001 has one final-sale item, so exactly one item is returnable and is chosen for the
    # customer.
    returnable = [i for i in order.items if not i.final_sale]
    assert len(returnable) == 1
    slots, said = await run(
        ValidateReturnForm(services),
        domain,
        verified("A1001"),
        {"order_id": "A1001"},
        "return_form",
    )
    assert slots["return_items"] == [returnable[0].sku]
    assert slots["requested_slot"] == "return_reason"
    assert "until" in said


async def test_an_order_outside_the_window_is_refused_with_the_closing_date(services, domain):
    order = await services.orders.get_order("A1004")
    assert order.delivered_on < TODAY - dt.timedelta(days=30)
    slots, said = await run(
        ValidateReturnForm(services),
        domain,
        verified("A1004"),
        {"order_id": "A1004"},
        "return_form",
    )
    assert slots["request_blocked"] is True and slots["requested_slot"] is None
    assert "30-day return window closed" in said


async def test_an_order_not_delivered_yet_cannot_be_returned(services, domain):
    slots, said = await run(
        ValidateReturnForm(services),
        domain,
        verified("A1002"),
        {"order_id": "A1002"},
        "return_form",
    )
    assert slots["request_blocked"] is True
    assert "only be started once an order is delivered" in said


async def test_used_items_are_refused_by_the_condition_rule(services, domain):
    state = verified("A1001", return_items=["x"], return_reason="changed_mind")
    slots, said = await run(
        ValidateReturnForm(services),
        domain,
        state,
        {"return_condition": "I wore it twice"},
        "return_form",
    )
    assert slots["return_condition"] == "used" and slots["request_blocked"] is True
    assert "can only accept returns" in said


@pytest.mark.parametrize(
    "reason, condition, fee", [("damaged", "defective", 0), ("doesnt_fit", "unused", 495)]
)
async def test_submitting_creates_the_return_and_gives_its_id_and_refund(
    services, domain, reason, condition, fee
):
    order = await services.orders.get_order("A1001")
    item = next(i for i in order.items if not i.final_sale)
    state = verified(
        "A1001", return_items=[item.sku], return_reason=reason, return_condition=condition
    )
    slots, said = await run(ActionSubmitReturn(services), domain, state)
    returns = await services.orders.get_returns("A1001")
    new = next(r for r in returns if item.sku in r.skus and r.created_on == TODAY)
    assert new.return_id in said and "prepaid return label" in said
    # The order system recorded the policy's fee, and the bot quoted exactly what it recorded,
    # so "where is my refund?" later shows the same amount.
    assert new.refund_cents == item.total_cents - fee
    assert f"we refund {money(new.refund_cents)}" in said
    assert ("return shipping fee" in said) == (fee > 0)
    assert {slots[k] for k in ("return_items", "return_reason", "return_condition")} == {None}


async def test_refund_status_lists_each_return_of_the_order(services, domain):
    _, said = await run(ActionRefundStatus(services), domain, verified("A1005"))
    for record in await services.orders.get_returns("A1005"):
        assert record.return_id in said
    _, said = await run(ActionRefundStatus(services), domain, verified("A1003"))
    assert "no return on order A1003" in said


async def test_a_processing_order_is_cancelled_only_after_confirmation(services, domain):
    slots, _ = await run(
        ValidateCancelForm(services),
        domain,
        verified("A1003"),
        {"order_id": "A1003"},
        "cancel_form",
    )
    assert slots["requested_slot"] == "cancel_confirmed"
    _, said = await run(
        ActionCancelOrder(services), domain, verified("A1003", cancel_confirmed=False)
    )
    assert "stays as it is" in said
    assert (await services.orders.get_order("A1003")).status is OrderStatus.PROCESSING
    slots, said = await run(
        ActionCancelOrder(services), domain, verified("A1003", cancel_confirmed=True)
    )
    assert "is cancelled" in said and slots["cancel_confirmed"] is None
    assert (await services.orders.get_order("A1003")).status is OrderStatus.CANCELLED


async def test_a_shipped_order_cannot_be_cancelled(services, domain):
    slots, said = await run(
        ValidateCancelForm(services),
        domain,
        verified("A1002"),
        {"order_id": "A1002"},
        "cancel_form",
    )
    assert slots["request_blocked"] is True and "already shipped" in said


@pytest.mark.parametrize(
    "text, expected",
    [
        ("all of them", ["A", "B", "C"]),
        ("2", ["B"]),
        ("the first and the last", ["A", "C"]),
        ("just the lamp", ["B"]),
        ("sku-c", ["C"]),
        ("no idea", []),
    ],
)
def test_customers_can_name_items_in_their_own_words(text, expected):
    from actions.orders.records import OrderItem

    items = [
        OrderItem("SKU-A", "Linen shirt", 1, 100),
        OrderItem("SKU-B", "Brass lamp", 1, 100),
        OrderItem("SKU-C", "Wool throw", 1, 100),
    ]
    assert [i.sku[-1] for i in pick_items(text, items)] == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("damaged", "damaged"),
        ("it arrived cracked", "damaged"),
        ("too small for me", "doesnt_fit"),
        ("they sent the wrong colour", "wrong_item"),
        ("meh", "other"),
    ],
)
def test_free_text_reasons_map_to_policy_codes(text, expected):
    from pathlib import Path

    policy = ReturnPolicy.from_file(Path("returns_policy.yml"))
    from actions.returns import _REASON_WORDS

    assert classify(text, policy.reasons, _REASON_WORDS, "other") == expected


async def test_a_return_above_the_review_limit_goes_to_a_person_instead(services, domain):
    order = await services.orders.get_order("A1001")
    item = next(i for i in order.items if not i.final_sale)
    services.policy = replace(services.policy, human_review_above_cents=item.total_cents - 1)
    state = verified(
        "A1001", return_items=[item.sku], return_reason="damaged", return_condition="defective"
    )
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitReturn(services).run(
        dispatcher, tracker(state, sender_id="big"), domain
    )
    assert "reviewed by our team" in texts(dispatcher)
    assert any(e["event"] == "pause" for e in events)
    assert (await services.handoff.get("big")).reason == "business_rule"
    assert [r for r in await services.orders.get_returns("A1001") if r.created_on == TODAY] == []


async def test_switching_orders_drops_the_answers_given_about_the_earlier_one(services, domain):
    # Items, reason and condition were chosen for A1001; the customer then names A1009.
    answered = verified(
        "A1001", return_items=["X"], return_reason="damaged", return_condition="unused"
    )
    slots, _ = await run(
        ValidateReturnForm(services),
        domain,
        {**answered, "order_id": "A1009"},
        {"order_id": "A1009"},
        "return_form",
    )
    assert {slot: slots[slot] for slot in RETURN_SLOTS} == dict.fromkeys(RETURN_SLOTS)
    assert slots["requested_slot"] == "verification"
    # The same order named again keeps what was said about it.
    slots, _ = await run(
        ValidateReturnForm(services), domain, answered, {"order_id": "A1001"}, "return_form"
    )
    assert slots.get("return_reason", "damaged") == "damaged"
