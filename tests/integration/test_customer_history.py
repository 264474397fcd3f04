"""Customer history through the real stack: a customer proves who they are in the widget, the
action server links the conversation, and the CSR's panel shows it with the live orders."""

from __future__ import annotations

import pytest

from bot.devtools.stack import DEMO_PASSWORD
from tests.support.clients import Csr, WidgetCustomer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.model


def verified_customer_waiting(stack) -> WidgetCustomer:
    """Jane proves order A1002 is hers with its postcode, then asks for a person."""
    customer = WidgetCustomer(stack.rasa_url)
    assert "postcode on order A1002" in customer.says("where is my order A1002?")
    assert "Order A1002" in customer.says("94107")
    assert "queue" in customer.says("I want to talk to a real person")
    return customer


def test_a_verified_customer_shows_with_history_and_live_orders(stack):
    earlier = verified_customer_waiting(stack)
    now = verified_customer_waiting(stack)
    csr = Csr(stack.handoff_url, "alice", DEMO_PASSWORD)
    wait_until(lambda: any(c["id"] == now.conversation_id for c in csr.queue()))

    status, panel = csr.get(f"/conversations/{now.conversation_id}/customer")

    assert status == 200, panel
    assert panel["verified"] is True and len(panel["customer"]) == 64
    ids = [c["id"] for c in panel["conversations"]]
    assert ids[:2] == [now.conversation_id, earlier.conversation_id]
    assert panel["conversations"][0]["state"] == "queued"
    assert "A1002" in panel["order_ids"]
    order = next(o for o in panel["orders"] if o["order_id"] == "A1002")
    assert order["email"] == "jane.doe@example.com" and order["status"]
    assert "orders_error" not in panel


def test_a_customer_who_proved_nothing_is_not_verified(stack):
    customer = WidgetCustomer(stack.rasa_url)
    assert "queue" in customer.says("I want to talk to a real person")
    csr = Csr(stack.handoff_url, "alice", DEMO_PASSWORD)
    status, panel = csr.get(f"/conversations/{customer.conversation_id}/customer")
    assert status == 200 and panel["verified"] is False and panel["orders"] == []
