"""Webhook delivery over real HTTP to a real local receiver, from the real event stream."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from contextlib import asynccontextmanager

import pytest

from handoff.core import events, keys
from handoff.core.errors import ConfigError
from handoff.core.settings import from_mapping
from handoff.core.store import HandoffStore
from handoff.delivery import webhooks
from handoff.delivery.webhooks import WebhookDeliverer, failed_deliveries
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Receiver

SECRET = "whsec-test-0123456789abcdef"
ENV = {"HOOK_SECRET": SECRET}


def settings(url, **extra):
    endpoint = {"url": url, "secret_env": "HOOK_SECRET", **extra.pop("endpoint", {})}
    section = {
        "endpoints": [endpoint],
        "max_attempts": 50,
        "timeout_seconds": 2,
        "retry_base_seconds": 0.02,
        "retry_max_seconds": 0.1,
        **extra,
    }
    return from_mapping({"webhooks": section}).webhooks


@asynccontextmanager
async def delivering(redis, config, **options):
    deliverer = WebhookDeliverer(redis, config, env=ENV, block_ms=50, **options)
    await deliverer.ensure_groups()  # a new group starts at the next event
    deliverer.start()
    try:
        yield deliverer
    finally:
        await deliverer.close()


@pytest.fixture
async def receiver():
    hooks = Receiver()
    yield hooks
    await hooks.stop()


async def publish(redis, event_type, **fields):
    async with redis.pipeline(transaction=True) as pipe:
        events.publish(pipe, {"type": event_type, "at": time.time(), **fields})
        await pipe.execute()


async def pending(redis, group):
    return (await redis.xpending(keys.WEBHOOK_EVENTS, group))["pending"]


def signed_by(secret, request):
    """What a receiver does (docs/handoff.md, "Webhooks"): recompute and compare."""
    header = request["headers"]["X-Handoff-Signature"]
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


async def test_a_receiver_that_is_down_gets_every_event_in_order_once_it_is_up(
    redis_client, receiver
):
    config = settings(receiver.url)
    group = config.endpoints[0].group
    async with delivering(redis_client, config):
        store = HandoffStore(redis_client)
        await store.escalate("c1", "request_human")  # a real lifecycle event
        await publish(redis_client, "conversation.claimed", conversation_id="c1")
        await publish(redis_client, "ticket.opened", ticket_id="T-1001")
        # Down: the first event is read and retried, the rest wait behind it.
        assert await eventually(lambda: pending(redis_client, group), what="a delivery in retry")
        await receiver.start()
        await eventually(
            lambda: _async(len(receiver.requests) >= 3), timeout=10, what="three deliveries"
        )
        await eventually(lambda: _settled(redis_client, group), what="every delivery acked")
    assert receiver.types() == ["conversation.escalated", "conversation.claimed", "ticket.opened"]
    ids = receiver.deliveries()
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-")))) and len(set(ids)) == 3
    first = receiver.requests[0]
    body = json.loads(first["body"])
    assert body["id"] == first["headers"]["X-Handoff-Delivery"]
    assert body["data"]["conversation_id"] == "c1" and body["data"]["state"] == "queued"
    assert first["headers"]["X-Handoff-Event"] == "conversation.escalated"
    assert first["headers"]["Content-Type"] == "application/json"
    assert all(signed_by(SECRET, r) for r in receiver.requests)
    assert not signed_by("another-secret-0123456789", first)
    header = first["headers"]["X-Handoff-Signature"]
    assert webhooks.verify(SECRET, first["body"], header)
    assert not webhooks.verify(SECRET, first["body"] + b" ", header)
    assert not webhooks.verify(SECRET, first["body"], header, now=time.time() + 3600)  # replayed
    assert await redis_client.llen(keys.WEBHOOK_FAILED) == 0


async def _settled(redis, group):
    return await pending(redis, group) == 0


async def _async(value):
    return value


async def test_retries_on_5xx_and_429_then_delivers(redis_client, receiver):
    await receiver.start()
    receiver.statuses = [503, 429, 500]
    config = settings(receiver.url)
    async with delivering(redis_client, config):
        await publish(redis_client, "conversation.closed", conversation_id="c9")
        await eventually(lambda: _async(len(receiver.requests) == 4), what="four attempts")
        await eventually(lambda: _settled(redis_client, config.endpoints[0].group))
    assert len(set(receiver.deliveries())) == 1  # one delivery id, four attempts
    signatures = {r["headers"]["X-Handoff-Signature"] for r in receiver.requests}
    assert all(signed_by(SECRET, r) for r in receiver.requests) and signatures


async def test_after_max_attempts_the_delivery_is_kept_as_failed(redis_client, receiver):
    await receiver.start()
    receiver.always = 500
    config = settings(receiver.url, max_attempts=3)
    async with delivering(redis_client, config):
        await publish(redis_client, "ticket.solved", ticket_id="T-1")
        [failed] = await eventually(lambda: failed_deliveries(redis_client), what="dead letter")
        await eventually(lambda: _settled(redis_client, config.endpoints[0].group))
        receiver.always = 200
        await publish(redis_client, "ticket.reopened", ticket_id="T-1")  # the next one goes on
        await eventually(lambda: _async("ticket.reopened" in receiver.types()))
    assert receiver.types() == ["ticket.solved"] * 3 + ["ticket.reopened"]
    assert failed["attempts"] == 3 and failed["error"] == "HTTP 500"
    assert failed["type"] == "ticket.solved" and failed["event"]["ticket_id"] == "T-1"
    assert failed["delivery"] == receiver.deliveries()[0] and failed["url"] == receiver.url


async def test_a_refusal_is_final_and_a_receiver_that_never_comes_up_fails_in_the_end(
    redis_client, receiver
):
    await receiver.start()
    receiver.statuses = [410]
    config = settings(receiver.url, max_attempts=4)
    async with delivering(redis_client, config):
        await publish(redis_client, "conversation.rated", conversation_id="c1")
        await eventually(lambda: failed_deliveries(redis_client))
    assert len(receiver.requests) == 1  # 4xx: not retried
    await receiver.stop()
    await redis_client.delete(keys.WEBHOOK_FAILED)
    async with delivering(redis_client, config):
        await publish(redis_client, "conversation.rated", conversation_id="c2")
        [failed] = await eventually(lambda: failed_deliveries(redis_client))
    assert failed["attempts"] == 4 and failed["error"].startswith("connection failed")


async def test_each_endpoint_gets_only_the_events_it_asked_for(redis_client, receiver):
    await receiver.start()
    config = settings(receiver.url, endpoint={"events": ["ticket.*", "team.away"]})
    async with delivering(redis_client, config):
        for kind in ("conversation.escalated", "ticket.opened", "team.back", "team.away"):
            await publish(redis_client, kind)
        await eventually(lambda: _async(len(receiver.requests) == 2))
        await eventually(lambda: _settled(redis_client, config.endpoints[0].group))
    assert receiver.types() == ["ticket.opened", "team.away"]


async def test_several_instances_deliver_each_event_once(redis_client, receiver):
    await receiver.start()
    config = settings(receiver.url)
    async with delivering(redis_client, config, consumer="one"):
        async with delivering(redis_client, config, consumer="two"):
            for n in range(12):
                await publish(redis_client, "conversation.updated", n=n)
            await eventually(lambda: _async(len(receiver.requests) >= 12))
            await eventually(lambda: _settled(redis_client, config.endpoints[0].group))
    numbers = sorted(json.loads(r["body"])["data"]["n"] for r in receiver.requests)
    assert numbers == list(range(12))


async def test_what_a_crashed_instance_had_taken_is_delivered_by_another(redis_client, receiver):
    await receiver.start()
    config = settings(receiver.url)
    group = config.endpoints[0].group
    await redis_client.xgroup_create(keys.WEBHOOK_EVENTS, group, id="$", mkstream=True)
    await publish(redis_client, "conversation.closed", conversation_id="lost")
    # An instance read it and died before answering.
    taken = await redis_client.xreadgroup(group, "crashed", {keys.WEBHOOK_EVENTS: ">"}, count=1)
    assert taken and await pending(redis_client, group) == 1
    async with delivering(redis_client, config, claim_idle_ms=100):
        await eventually(lambda: _async(len(receiver.requests) == 1), what="the reclaimed event")
        await eventually(lambda: _settled(redis_client, group))
    assert json.loads(receiver.requests[0]["body"])["data"]["conversation_id"] == "lost"


def test_settings_keep_secrets_out_of_the_file():
    config = settings("https://helpdesk.example/hooks", endpoint={"name": "helpdesk"})
    endpoint = config.endpoints[0]
    assert endpoint.group == "webhook:helpdesk" and endpoint.events == ("*",)
    assert endpoint.secret(ENV) == SECRET
    with pytest.raises(ConfigError, match="HOOK_SECRET"):
        endpoint.secret({})
    with pytest.raises(ConfigError, match="HOOK_SECRET"):
        WebhookDeliverer(None, config, env={"HOOK_SECRET": "short"})
    for bad in (
        {"endpoints": [{"url": "ftp://x.example", "secret_env": "S"}]},
        {"endpoints": [{"url": "https://x.example", "secret": "inline"}]},
        {"endpoints": [{"url": "https://x.example", "secret_env": "not a name"}]},
        {"endpoints": [{"url": "https://x.example", "secret_env": "S", "events": []}]},
        {"endpoints": [{"url": "https://x.example", "secret_env": "S"}] * 2},
        {"max_attempts": 0},
        {"timeout_seconds": -1},
        {"unknown": 1},
    ):
        with pytest.raises(ConfigError):
            from_mapping({"webhooks": bad})
    assert from_mapping({}).webhooks.endpoints == ()
