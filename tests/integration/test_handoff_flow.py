"""A customer on the widget, a CSR on the console API, and the bot in between — every process
real.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.devtools.stack import DEMO_PASSWORD
from tests.support.clients import Csr, WidgetCustomer, call
from tests.support.waiting import wait_until

pytestmark = pytest.mark.model


def queued(csr, conversation_id):
    return next((c for c in csr.queue() if c["id"] == conversation_id), None)


def test_request_human_claim_chat_release_and_the_bot_answers_again(stack):
    customer = WidgetCustomer(stack.rasa_url)
    assert "order number" in customer.says("where is my order?")
    handoff = customer.says("I want to talk to a real person")
    assert "number 1 in the queue" in handoff or "in the queue" in handoff

    csr = Csr(stack.handoff_url, "alice", DEMO_PASSWORD)
    item = wait_until(lambda: queued(csr, customer.conversation_id))
    assert item["reason"] == "request_human" and item["state"] == "queued"
    assert item["context"]["page_url"] == "https://shop.example/help"

    status, _ = csr.post(f"/conversations/{customer.conversation_id}/claim")
    assert status == 200
    status, details = csr.get(f"/conversations/{customer.conversation_id}")
    assert status == 200
    said = [(m["sender"], m["text"]) for m in details["transcript"]]
    assert ("customer", "where is my order?") in said
    assert any(m.get("intent") == "order_status" for m in details["transcript"])

    status, _ = csr.post(
        f"/conversations/{customer.conversation_id}/messages",
        {"text": "Hi, I'm Alice. How can I help?"},
    )
    assert status == 201
    seen = customer.messages_after(customer.last_id)
    assert any(m.get("text") == "Hi, I'm Alice. How can I help?" for m in seen)

    assert (
        customer.say("my parcel is late, order A1002") == []
    )  # the bot stays quiet while a CSR has it
    status, details = csr.get(f"/conversations/{customer.conversation_id}")
    assert details["transcript"][-1]["text"] == "my parcel is late, order A1002"

    status, _ = csr.post(f"/conversations/{customer.conversation_id}/release")
    assert status == 200
    after_release = wait_until(lambda: customer.messages_after(customer.last_id))
    assert any("Hi again" in (m.get("text") or "") for m in after_release)
    assert "$14.95" in customer.says("how much is express shipping?")


def test_two_misunderstandings_in_a_row_escalate_with_the_confidence(stack):
    customer = WidgetCustomer(stack.rasa_url)
    assert "say it another way" in customer.says("🙃🙃🙃")
    assert "queue" in customer.says("¿¿??")
    csr = Csr(stack.handoff_url, "alice", DEMO_PASSWORD)
    item = wait_until(lambda: queued(csr, customer.conversation_id))
    assert item["reason"] == "nlu_fallback" and item["confidence"] < 0.55


def test_an_unreachable_order_system_escalates(stack):
    customer = WidgetCustomer(stack.rasa_url)
    customer.says("where is my order A1002")
    moved = stack.order_db.with_suffix(".away")
    os.rename(stack.order_db, moved)  # the order system really goes away
    try:
        reply = customer.says("94107")
    finally:
        os.rename(moved, stack.order_db)
    assert "can't reach our order system" in reply and "queue" in reply
    csr = Csr(stack.handoff_url, "alice", DEMO_PASSWORD)
    item = wait_until(lambda: queued(csr, customer.conversation_id))
    assert item["reason"] == "action_failed" and item["priority"] == "high"


def test_two_csrs_claiming_at_once_get_one_winner_and_one_conflict(stack):
    customer = WidgetCustomer(stack.rasa_url)
    customer.says("agent please")
    first, second = (
        Csr(stack.handoff_url, "alice", DEMO_PASSWORD),
        Csr(stack.handoff_url, "admin", DEMO_PASSWORD),
    )
    wait_until(lambda: queued(first, customer.conversation_id))
    path = f"/conversations/{customer.conversation_id}/claim"
    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(
            f.result()[0] for f in [pool.submit(first.post, path), pool.submit(second.post, path)]
        )
    assert statuses == [200, 409]


def test_reconnecting_with_the_last_seen_id_loses_and_repeats_nothing(stack):
    customer = WidgetCustomer(stack.rasa_url)
    customer.says("hi")
    seen_before = customer.messages_after(None)
    checkpoint = seen_before[-1]["id"]
    customer.says("how long does standard shipping take?")
    customer.says("do you ship to canada?")
    missed = customer.messages_after(checkpoint)
    everything = customer.messages_after(None)
    assert [m["id"] for m in everything] == [m["id"] for m in seen_before] + [
        m["id"] for m in missed
    ]
    assert len(missed) >= 2 and len({m["id"] for m in everything}) == len(everything)


def test_a_token_reaches_only_its_own_conversation(stack):
    alice, bob = WidgetCustomer(stack.rasa_url), WidgetCustomer(stack.rasa_url)
    alice.says("hello")
    status, body = call("GET", f"{bob.base}/messages", token=bob.token)
    assert status == 200 and all("hello" != m.get("text") for m in body["messages"])
    forged = bob.token[:-4] + ("AAAA" if not bob.token.endswith("AAAA") else "BBBB")
    assert call("GET", f"{bob.base}/messages", token=forged)[0] == 401
    assert call("POST", f"{bob.base}/messages", {"text": "hi"})[0] == 401


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/queue"),
        ("GET", "/api/conversations/x"),
        ("POST", "/api/conversations/x/claim"),
        ("GET", "/api/metrics"),
    ],
)
def test_csr_calls_without_a_token_get_401(stack, method, path):
    status, body = call(method, f"{stack.handoff_url}{path}", {} if method == "POST" else None)
    assert status == 401 and body["error"]["code"]


def test_metrics_count_escalations_by_reason(stack):
    admin = Csr(stack.handoff_url, "admin", DEMO_PASSWORD)
    status, metrics = admin.get("/metrics")
    assert status == 200
    assert metrics["conversations"] >= 1
    assert set(metrics["escalations_by_reason"]) <= {
        "request_human",
        "nlu_fallback",
        "action_failed",
        "complaint",
        "core_fallback",
        "business_rule",
    }
