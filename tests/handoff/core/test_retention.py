"""Retention and erasure on a real Redis: every trace of a customer goes, nobody else's does.

The data is made the way the product makes it: the store (records, transcripts, notes and
their lifecycle events), the outbox, the ticket desk, the customer links, Rasa's trackers
in RedisTrackerStore's format and review items as the review list keeps them.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.retraining import keys as retraining_keys
from bot.retraining.privacy import RasaTrackers, ReviewItems
from handoff.core import keys
from handoff.core.errors import ConfigError, InvalidInput
from handoff.core.mail import GROUP, MailOutbox, OutgoingEmail
from handoff.core.outbox import Outbox
from handoff.core.retention import DAY, Retention
from handoff.core.settings import from_mapping, load_config
from tests.support.trackers import bot, save_tracker, user
from tests.support.waiting import eventually

JANE, JOHN = "jane.doe@example.com", "john.roe@example.com"


def retention(redis, customers, tickets, clock, **kwargs):
    parts = [RasaTrackers(redis, "rasa"), ReviewItems(redis)]
    return Retention(redis, customers, tickets=tickets, parts=parts, clock=clock, **kwargs)


@pytest.fixture
def keeper(redis_client, customers, tickets, clock):
    return retention(redis_client, customers, tickets, clock, customer_data_days=30)


async def chat(redis, store, customers, tickets, clock, conv_id, email, *, ticket=False):
    """One verified conversation with everything a conversation can leave behind."""
    await save_tracker(
        redis,
        conv_id,
        [
            user(f"where is my order, {conv_id}?", "order_status", 0.4, clock.now),
            bot("...", clock.now),
        ],
    )
    await customers.link_conversation(conv_id, email, order_id=f"A-{conv_id}")
    await store.escalate(conv_id, "request_human", context={"summary": f"about {conv_id}"})
    await store.record_customer_message(conv_id, f"hello from {conv_id}")
    await store.add_note(conv_id, "alice", f"note on {conv_id}")
    await Outbox(redis).append(conv_id, {"sender": "csr", "text": f"hi {conv_id}"})
    await redis.hset(keys.attachments(conv_id), "f1", json.dumps({"id": "f1", "name": "a.png"}))
    await redis.hset(keys.attachment_data(conv_id), "f1", "aGVsbG8=")
    item = {"id": f"item-{conv_id}", "text": "where is my order", "conversations": [conv_id]}
    await redis.set(retraining_keys.item(f"item-{conv_id}"), json.dumps(item))
    if ticket:
        return await tickets.open_from_conversation(conv_id, email, reason="request_human")
    return None


async def dump(redis):
    """Every key with its whole value, as text."""
    found = {}
    async for key in redis.scan_iter(count=1000):
        kind = await redis.type(key)
        if kind == "string":
            value = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(await redis.smembers(key))
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = await redis.xrange(key)
        found[key] = json.dumps(value, sort_keys=True, default=str)
    return found


def mentions(data, *needles):
    """The keys whose name or value mention any needle (metric samples aside: see retention)."""
    return sorted(
        key
        for key, value in data.items()
        if not key.startswith("handoff:metrics:") and any(n in key or n in value for n in needles)
    )


async def test_erasure_leaves_nothing_of_the_customer_and_everything_of_the_others(
    redis_client, store, customers, tickets, clock, keeper
):
    jane_ticket = await chat(
        redis_client, store, customers, tickets, clock, "jane-1", JANE, ticket=True
    )
    await chat(redis_client, store, customers, tickets, clock, "jane-2", JANE)
    await chat(redis_client, store, customers, tickets, clock, "john-1", JOHN, ticket=True)
    for conv_id in ("jane-2", "john-1"):  # a webhook delivery given up on quotes its event
        event = {"type": "conversation.escalated", "conversation_id": conv_id}
        await redis_client.rpush(keys.WEBHOOK_FAILED, json.dumps({"event": event}))
    jane = customers.key_for(JANE)
    jane_needles = ("jane-1", "jane-2", jane, JANE, jane_ticket.id)
    before = await dump(redis_client)
    assert len(mentions(before, *jane_needles)) > 15

    erased = await keeper.erase("Jane.Doe@Example.com")

    after = await dump(redis_client)
    assert mentions(after, *jane_needles) == []
    johns = {k: v for k, v in before.items() if not any(n in k or n in v for n in jane_needles)}
    assert {k: after.get(k) for k in johns} == johns  # John's data, byte for byte
    assert erased.to_dict() == {
        "conversations": 2,
        "tickets": 1,
        "links": 2,
        "events": erased.events,
        "mails": 0,
        "trackers": 2,
        "review_items": 2,
    }
    assert erased.events > 5
    again = await keeper.erase(JANE)
    assert again.to_dict() == {k: 0 for k in erased.to_dict()}  # idempotent


async def test_the_export_holds_everything_kept_about_the_customer(
    redis_client, store, customers, tickets, clock, keeper
):
    ticket = await chat(redis_client, store, customers, tickets, clock, "jane-1", JANE, ticket=True)
    await chat(redis_client, store, customers, tickets, clock, "john-1", JOHN)

    data = await keeper.export(JANE)

    assert data["customer"] == customers.key_for(JANE)
    assert data["order_ids"] == ["A-jane-1"]
    (conv,) = data["conversations"]
    assert conv["id"] == "jane-1" and conv["record"]["state"] == "ticket"
    assert [m["text"] for m in conv["transcript"]] == ["hello from jane-1"]
    assert [n["text"] for n in conv["notes"]] == ["note on jane-1"]
    assert conv["attachments"] == [{"id": "f1", "name": "a.png"}]
    assert conv["outbox"][0]["message"]["text"] == "hi jane-1"
    (exported_ticket,) = data["tickets"]
    assert exported_ticket["id"] == ticket.id and exported_ticket["email"] == JANE
    assert exported_ticket["thread"] and isinstance(exported_ticket["notes"], list)
    (tracker,) = data["trackers"]
    assert tracker["conversation_id"] == "jane-1"
    assert tracker["events"][0]["text"] == "where is my order, jane-1?"
    assert [i["id"] for i in data["review_items"]] == ["item-jane-1"]
    assert "john" not in json.dumps(data)


async def test_an_address_is_required(keeper):
    for bad in (None, "", "jane", "x" * 400 + "@example.com"):
        with pytest.raises(InvalidInput):
            await keeper.erase(bad)
        with pytest.raises(InvalidInput):
            await keeper.export(bad)


async def test_the_sweep_deletes_what_was_idle_for_the_period_only(
    redis_client, store, customers, tickets, clock, keeper
):
    await chat(redis_client, store, customers, tickets, clock, "jane-old", JANE, ticket=True)
    await save_tracker(redis_client, "anonymous-old", [user("hi", "greet", 0.9, clock.now)])
    clock.advance(20 * DAY)
    await chat(redis_client, store, customers, tickets, clock, "jane-new", JANE)
    await chat(redis_client, store, customers, tickets, clock, "john", JOHN, ticket=True)
    clock.advance(11 * DAY)  # 31 days after the first, 11 after the others

    erased = await keeper.sweep()

    left = await dump(redis_client)
    jane = customers.key_for(JANE)
    # The orders Jane proved stay in her profile while she has a conversation.
    assert mentions(left, "jane-old", "anonymous-old") == [keys.customer_orders(jane)]
    assert erased.conversations == 1 and erased.tickets == 1
    assert erased.parts == {"trackers": 2, "review_items": 1}
    assert await customers.conversation_ids(jane) == ["jane-new"]
    assert await customers.order_ids(jane) == ["A-jane-new", "A-jane-old"]
    for conv_id in ("jane-new", "john"):
        assert await store.get(conv_id)
        assert await redis_client.exists(f"rasa:tracker:{conv_id}")
    assert [t.conversation_id for t in await tickets.list()] == ["john"]

    clock.advance(30 * DAY)
    await keeper.sweep()
    assert mentions(await dump(redis_client), "jane", "john", jane) == []


async def test_recent_activity_anywhere_keeps_a_conversation(
    redis_client, store, customers, tickets, clock, keeper
):
    await chat(redis_client, store, customers, tickets, clock, "c1", JANE)
    clock.advance(40 * DAY)
    # The customer came back to the bot only: the tracker is all that moved.
    await save_tracker(redis_client, "c1", [user("me again", "greet", 0.9, clock.now)])
    erased = await keeper.sweep()
    assert erased.conversations == 0 and await store.get("c1")


async def test_one_instance_sweeps_at_a_time(redis_client, customers, tickets, clock):
    first, second = (
        retention(redis_client, customers, tickets, clock, sweep_interval_seconds=600)
        for _ in range(2)
    )
    results = await asyncio.gather(first.sweep_if_due(), second.sweep_if_due())
    assert sorted(r is None for r in results) == [False, True]
    assert 0 < await redis_client.pttl(keys.RETENTION_LOCK) <= 600_000
    assert await first.sweep_if_due() is None  # swept within the interval
    await redis_client.delete(keys.RETENTION_LOCK)  # the interval passed
    assert await second.sweep_if_due() is not None


async def test_the_background_task_sweeps_and_stops(redis_client, store, customers, tickets, clock):
    await chat(redis_client, store, customers, tickets, clock, "c1", JANE)
    clock.advance(400 * DAY)
    keeper = retention(redis_client, customers, tickets, clock)
    stop = asyncio.Event()
    task = asyncio.ensure_future(keeper.run(stop))

    async def gone():
        return not await redis_client.exists(keys.conversation("c1"))

    await eventually(gone, what="the background sweep")
    stop.set()
    await asyncio.wait_for(task, 5)


def mail(to, ticket_id=None):
    return OutgoingEmail(
        to=to,
        subject="About your order",
        text="We are on it.",
        html=None,
        reply_to="support@shop.example",
        message_id=f"<{to}@shop.example>",
        in_reply_to=None,
        ticket_id=ticket_id,
    )


async def test_erasure_takes_the_mails_to_the_customer_out_of_every_queue(
    redis_client, customers, tickets, clock, keeper
):
    outbox = MailOutbox(redis_client)
    await outbox.ensure_group()
    await outbox.enqueue(mail("Jane.Doe@example.com"))
    await outbox.enqueue(mail(JOHN))
    read = await outbox.read("mailer-1", count=10, block_ms=10)  # both pending in the group
    assert len(read) == 2
    await redis_client.xadd(keys.MAIL_FAILED, {"email": json.dumps(mail(JANE).to_dict())})
    retry = {"email": mail(JANE).to_dict(), "attempts": 1, "last_error": "timeout"}
    await redis_client.zadd(keys.MAIL_RETRY, {json.dumps(retry): clock.now})

    assert [m["to"] for m in (await keeper.export(JANE))["mails"]] == [
        "Jane.Doe@example.com",
        JANE,
        JANE,
    ]
    erased = await keeper.erase(JANE)

    assert erased.mails == 3
    left = await dump(redis_client)
    assert mentions(left, "jane") == []
    assert [m["to"] for m in (await keeper.export(JOHN))["mails"]] == [JOHN]
    pending = await redis_client.xpending(keys.MAIL_OUTBOX, GROUP)
    assert pending["pending"] == 1  # John's; Jane's was acknowledged before it was deleted


def test_the_retention_settings_come_from_the_file_and_the_environment(tmp_path):
    assert load_config(tmp_path / "none.yml", env={}).retention.customer_data_days == 365
    config = tmp_path / "handoff.yml"
    config.write_text("retention:\n  customer_data_days: 90\n  sweep_interval_minutes: 5\n")
    assert load_config(config, env={}).retention.sweep_interval_minutes == 5
    settings = load_config(config, env={"HANDOFF_CUSTOMER_DATA_DAYS": "30"}).retention
    assert (settings.customer_data_days, settings.sweep_interval_minutes) == (30, 5)
    for bad in (
        {"customer_data_days": 0},
        {"sweep_interval_minutes": "soon"},
        {"days": 3},
        "daily",
    ):
        with pytest.raises(ConfigError):
            from_mapping({"retention": bad})
