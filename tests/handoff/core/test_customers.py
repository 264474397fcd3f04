"""Customer links and profiles on a real Redis: keyed by a hash, never by the email."""

from __future__ import annotations

import pytest

from handoff.core import keys
from handoff.core.customers import check_email, customer_key
from handoff.core.errors import InvalidInput
from tests.support.auth import SECRET

JANE = "Jane.Doe@example.com"


async def test_a_link_is_kept_under_the_keyed_hash_and_no_key_names_the_email(
    customers, redis_client, clock
):
    key = await customers.link_conversation("c1", JANE, order_id="A1001")
    assert key == customer_key(SECRET, "jane.doe@example.com") and len(key) == 64
    assert await customers.key_of_conversation("c1") == key
    assert await customers.key_of_conversation("c2") is None
    names = [k async for k in redis_client.scan_iter()]
    assert sorted(names) == sorted(
        [
            keys.customer_conversations(key),
            keys.customer_orders(key),
            keys.conversation_customer("c1"),
        ]
    )
    assert not any("jane" in n.lower() or "example" in n for n in names)


async def test_linking_again_moves_the_time_and_adds_orders_idempotently(customers, clock):
    key = await customers.link_conversation("c1", JANE, order_id="A1001")
    clock.advance(60)
    await customers.link_conversation("c1", " jane.doe@EXAMPLE.com ", order_ids=["A1002"])
    assert await customers.conversation_ids(key) == ["c1"]
    assert await customers.order_ids(key) == ["A1001", "A1002"]
    profile = await customers.profile(key)
    assert profile["conversations"][0]["linked_at"] == clock.now


async def test_a_conversation_belongs_to_one_customer(customers):
    jane = await customers.link_conversation("c1", JANE)
    john = await customers.link_conversation("c1", "john@example.com")
    assert await customers.conversation_ids(jane) == []
    assert await customers.conversation_ids(john) == ["c1"]


async def test_bad_ids_and_addresses_are_refused(customers):
    for conv_id, email in (("c 1", JANE), ("c1", "not-an-address"), ("c1", 42), ("c1", "a@b")):
        with pytest.raises(InvalidInput):
            await customers.link_conversation(conv_id, email)
    with pytest.raises(InvalidInput):
        check_email("jane\x00@example.com")


async def test_the_profile_lists_conversations_tickets_ratings_and_orders(
    customers, store, tickets, clock
):
    key = await customers.link_conversation("old", JANE, order_id="A1001")
    await store.escalate("old", "request_human")
    await store.claim("old", "alice")
    await store.close("old", "refund_issued", by="alice")
    await store.set_csat("old", 4)
    clock.advance(3600)
    await customers.link_conversation("bot-only", JANE, order_id="A1002")
    clock.advance(3600)
    await customers.link_conversation("new", JANE)
    await store.escalate("new", "complaint")
    ticket = await tickets.open_from_conversation("new", JANE, reason="complaint")

    profile = await customers.profile(key)
    assert [c["id"] for c in profile["conversations"]] == ["new", "bot-only", "old"]
    old = profile["conversations"][2]
    assert old["state"] == "closed" and old["resolution"] == "refund_issued"
    assert old["csat"] == 4 and old["assigned_to"] == "alice" and old["reason"] == "request_human"
    assert profile["conversations"][1]["state"] is None  # the bot handled it: no record
    assert profile["ratings"] == [{"conversation_id": "old", "score": 4, "at": old["closed_at"]}]
    assert [t["id"] for t in profile["tickets"]] == [ticket.id]
    assert profile["order_ids"] == ["A1001", "A1002"]


async def test_unlinking_the_last_conversation_forgets_the_orders(customers, redis_client):
    key = await customers.link_conversation("c1", JANE, order_id="A1001")
    await customers.link_conversation("c2", JANE)
    assert await customers.unlink(["c1"]) == 1
    assert await customers.order_ids(key) == ["A1001"]
    assert await customers.unlink(["c2", "never-linked"]) == 1
    assert [k async for k in redis_client.scan_iter()] == []
