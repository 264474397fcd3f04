"""The operations endpoints of the real stack's processes: readiness and Prometheus scrapes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support.prometheus import samples, value

pytestmark = pytest.mark.model


def get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_rasa_is_ready_with_its_model_and_redis(stack):
    status, body = get(f"{stack.rasa_url}/webhooks/widget/ready")
    assert (status, json.loads(body)) == (
        200,
        {"status": "ready", "checks": {"redis": "ok", "model": "ok"}},
    )


def test_handoff_service_is_ready(stack):
    status, body = get(f"{stack.handoff_url}/ready")
    assert (status, json.loads(body)["status"]) == (200, "ready")


def test_every_scrape_parses(stack):
    for url in (f"{stack.rasa_url}/webhooks/widget/metrics", f"{stack.handoff_url}/prometheus"):
        status, text = get(url)
        assert status == 200
        assert "process_resident_memory_bytes" in samples(text), url
    assert "storefront_queue_length" in samples(get(f"{stack.handoff_url}/prometheus")[1])


def post(url: str, body: dict, token: str = ""):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


def test_a_widget_conversation_is_counted_by_rasa(stack):
    widget = f"{stack.rasa_url}/webhooks/widget"
    before = get(f"{widget}/metrics")[1]
    token = post(f"{widget}/session", {})["token"]
    replies = post(f"{widget}/messages", {"text": "hello"}, token)["messages"]
    assert replies
    after = get(f"{widget}/metrics")[1]
    customer_in = {"direction": "in", "sender": "customer"}
    assert value(after, "storefront_messages_total", customer_in) == (
        value(before, "storefront_messages_total", customer_in) + 1
    )
    bot_out = {"direction": "out", "sender": "bot"}
    assert value(after, "storefront_messages_total", bot_out) >= (
        value(before, "storefront_messages_total", bot_out) + len(replies)
    )
    assert value(after, "storefront_reply_latency_seconds_count") == (
        value(before, "storefront_reply_latency_seconds_count") + 1
    )
