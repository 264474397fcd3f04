"""The per-conversation outbox on a real Redis stream."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from handoff.core import keys
from handoff.core.outbox import InvalidMessage, InvalidMessageId, Outbox


def msg(text, sender="bot", **extra):
    return {"sender": sender, "text": text, **extra}


async def test_append_returns_increasing_ids_and_read_all(outbox):
    ids = [await outbox.append("c1", msg(f"m{i}")) for i in range(5)]
    assert len(set(ids)) == 5
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    entries = await outbox.read_after("c1", None)
    assert [e[0] for e in entries] == ids
    assert [e[1]["text"] for e in entries] == [f"m{i}" for i in range(5)]
    assert all(isinstance(e[1]["timestamp"], float) for e in entries)


async def test_read_after_is_strictly_after_without_duplicates(outbox):
    ids = [await outbox.append("c1", msg(f"m{i}")) for i in range(10)]
    seen, last = [], None
    while True:
        batch = await outbox.read_after("c1", last, count=3)
        if not batch:
            break
        seen += batch
        last = batch[-1][0]
    assert [i for i, _ in seen] == ids
    assert await outbox.read_after("c1", ids[4]) == seen[5:]
    assert await outbox.read_after("c1", ids[-1]) == []


async def test_outboxes_are_per_conversation(outbox):
    await outbox.append("a", msg("for a"))
    await outbox.append("b", msg("for b"))
    assert [m["text"] for _, m in await outbox.read_after("a")] == ["for a"]
    assert await outbox.read_after("nobody") == []


async def test_message_fields_round_trip(outbox):
    buttons = [{"title": "Yes", "payload": "/affirm"}]
    await outbox.append(
        "c", msg("hi", sender="csr", agent="Alice", buttons=buttons, timestamp=12.5)
    )
    [(_, message)] = await outbox.read_after("c")
    assert message == {
        "sender": "csr",
        "text": "hi",
        "agent": "Alice",
        "buttons": buttons,
        "timestamp": 12.5,
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"sender": "customer", "text": "x"},
        {"sender": "bot"},
        {"sender": "bot", "text": 3},
        {"sender": "bot", "text": "x", "buttons": [{"title": "t"}]},
        {"sender": "csr", "text": "x", "agent": 7},
        {"sender": "bot", "text": "x", "extra": object()},
        "not a dict",
    ],
)
async def test_invalid_messages_are_refused(outbox, bad):
    with pytest.raises(InvalidMessage):
        await outbox.append("c", bad)


async def test_invalid_last_id_is_refused(outbox):
    for bad in ["abc", "1-2-3", "", "$"]:
        with pytest.raises(InvalidMessageId):
            await outbox.read_after("c", bad)


async def test_read_many_reads_each_conversation_after_its_own_id(outbox):
    a1 = await outbox.append("a", msg("a1"))
    await outbox.append("a", msg("a2"))
    await outbox.append("b", msg("b1"))
    last = "18446744073709551615-18446744073709551615"
    pages = await outbox.read_many([("a", a1), ("b", None), ("a", last), ("none", None)])
    assert [[m["text"] for _, m in page] for page in pages] == [["a2"], ["b1"], [], []]
    assert await outbox.read_many([]) == []
    with pytest.raises(InvalidMessageId):
        await outbox.read_many([("a", "yesterday")])


async def test_append_announces_itself_on_the_conversations_channel(redis_db, outbox):
    # The listener has its own client, like another process's delivery hub.
    listener = aioredis.from_url(redis_db, decode_responses=True)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.outbox_appended("c"))
    try:
        await outbox.append("c", msg("new"))
        messages = [await pubsub.get_message(timeout=0.1) for _ in range(20)]
        assert [m["channel"] for m in messages if m] == [keys.outbox_appended("c")]
    finally:
        await pubsub.reset()
        await listener.close()


async def test_stream_is_capped_and_expires(redis_client):
    small = Outbox(redis_client, maxlen=10, ttl_seconds=100)
    for i in range(300):
        await small.append("c", msg(str(i)))
    length = await redis_client.xlen(keys.outbox("c"))
    assert 10 <= length < 300  # approximate trimming keeps at least maxlen
    assert 0 < await redis_client.ttl(keys.outbox("c")) <= 100
    entries = await small.read_after("c")
    assert entries[-1][1]["text"] == "299"


async def test_signal_reaches_subscribers(redis_client, outbox):
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.signals("c"))
    assert await outbox.signal("c", {"type": "typing", "agent": "Alice"}) == 1
    message = None
    for _ in range(20):  # the first read may be the subscribe confirmation
        message = message or await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
    assert message["data"] == '{"type": "typing", "agent": "Alice"}'
    await pubsub.close()
