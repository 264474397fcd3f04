"""Card numbers, emails and phone numbers a customer types are masked in what the CSR API
and the admin review list return, through every real process; the verified email still
reaches the CSR in the context."""

from __future__ import annotations

import json

import pytest

from bot.devtools.stack import DEMO_PASSWORD
from tests.support.clients import Csr, WidgetCustomer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.model

SECRETS = (
    "my card 4242 4242 4242 4242 was charged twice, write to jo.smith+shop@example.com "
    "or call +44 20 7946 0958"
)
MASKED = (
    "my card [card ending 4242] was charged twice, write to j***@example.com "
    "or call [phone ending 0958]"
)
RAW = ("4242 4242", "jo.smith", "7946", "jane.doe@", "900123")


def test_secrets_a_customer_types_are_masked_for_the_csr_and_the_admin(stack):
    customer = WidgetCustomer(stack.rasa_url)
    assert "order number" in customer.says("I want to check on my order")
    assert "postcode" in customer.says("I don't have it, my email is jane.doe@example.com")
    assert "Which one" in customer.says("94107")
    answer = customer.says("A1002")
    assert "Order A1002" in answer and "771234567890" in answer  # the FedEx tracking number
    # A complaint about a double charge may escalate by itself; otherwise the customer asks.
    if "queue" not in customer.says(SECRETS):
        assert "queue" in customer.says("I want to talk to a real person")

    csr = Csr(stack.handoff_url, "alice", DEMO_PASSWORD)
    conv = customer.conversation_id
    wait_until(lambda: any(c["id"] == conv for c in csr.queue()), what="the escalation")
    assert csr.post(f"/conversations/{conv}/claim")[0] == 200
    # While a CSR has the conversation the widget channel writes the transcript line itself.
    assert customer.say("or my mobile, 07700 900123") == []

    status, details = csr.get(f"/conversations/{conv}")
    assert status == 200, details
    said = [(m["sender"], m["text"]) for m in details["transcript"]]
    assert ("customer", "I don't have it, my email is j***@example.com") in said
    assert ("customer", "94107") in said and ("customer", "A1002") in said  # not secrets
    assert ("customer", MASKED) in said
    assert said[-1] == ("customer", "or my mobile, [phone ending 0123]")
    assert any("771234567890" in text for sender, text in said if sender == "bot")
    transcript = json.dumps(details["transcript"])
    assert not [raw for raw in RAW if raw in transcript], transcript
    # The CSR still sees the verified email: in the context, not in the transcript.
    assert details["context"]["slots"]["verified_email"] == "jane.doe@example.com"
    assert details["context"]["order"] == {
        **details["context"]["order"],
        "order_id": "A1002",
        "verified": True,
        "email": "jane.doe@example.com",
    }

    admin = Csr(stack.handoff_url, "admin", DEMO_PASSWORD)
    status, body = admin.get("/admin/review?threshold=1")
    assert status == 200, body
    mine = [item for item in body["items"] if conv in item["conversations"]]
    assert MASKED in [item["text"] for item in mine], mine
    listed = json.dumps(mine)
    assert "j***@example.com" in listed
    assert not [raw for raw in RAW if raw in listed], listed
