"""HandoffStore against a real Redis: escalation, queue, transitions, transcript, metrics."""

from __future__ import annotations

import asyncio

import pytest

from handoff.core import keys
from handoff.core.errors import (
    ClaimConflict,
    ConversationNotFound,
    InvalidInput,
    InvalidTransition,
    NotAssignee,
)
from handoff.core.lifecycle import State

CONTEXT = {
    "slots": {"order_id": "HP-1001"},
    "order": {"id": "HP-1001", "status": "shipped"},
    "page_url": "https://shop.example/orders",
    "locale": "en-US",
    "summary": "Looked up order; customer upset",
    "transcript": [
        {
            "sender": "customer",
            "text": "where is my order",
            "timestamp": 1.0,
            "intent": "order_status",
            "confidence": 0.97,
        },
        {"sender": "bot", "text": "It shipped yesterday.", "timestamp": 2.0},
    ],
}


async def test_escalate_creates_a_queued_record(store):
    result = await store.escalate("c1", "request_human", confidence=0.4, context=CONTEXT)
    assert result.position == 1 and not result.already_queued
    assert result.estimated_wait_seconds == 60  # the default, no history yet
    conv = await store.get("c1")
    assert conv.state is State.QUEUED and conv.priority == "normal"
    assert conv.reason == "request_human"
    assert conv.confidence == 0.4 and conv.waiting_since == store._clock() and conv.escalations == 1
    assert conv.context["order"]["status"] == "shipped" and "transcript" not in conv.context
    transcript = await store.transcript("c1")
    assert [m["sender"] for m in transcript] == ["customer", "bot"]
    assert transcript[0]["intent"] == "order_status"


async def test_priority_comes_from_the_reason_or_the_caller(store):
    assert (await store.escalate("a", "frustrated")).conversation.priority == "high"
    assert (await store.escalate("b", "complaint")).conversation.priority == "urgent"
    assert (await store.escalate("c", "whatever")).conversation.priority == "normal"
    assert (await store.escalate("d", "whatever", priority="low")).conversation.priority == "low"
    with pytest.raises(InvalidInput):
        await store.escalate("e", "whatever", priority="critical")


async def test_queue_is_sorted_by_priority_then_wait(store, clock):
    for conv_id, priority in [
        ("n1", "normal"),
        ("l1", "low"),
        ("u1", "urgent"),
        ("n2", "normal"),
        ("h1", "high"),
        ("u2", "urgent"),
    ]:
        await store.escalate(conv_id, "request_human", priority=priority)
        clock.advance(5)
    assert [c.id for c in await store.queue()] == ["u1", "u2", "h1", "n1", "n2", "l1"]


async def test_position_and_estimate_grow_with_the_queue(store, clock):
    await store.escalate("a", "request_human")
    clock.advance(1)
    second = await store.escalate("b", "request_human")
    assert (second.position, second.estimated_wait_seconds) == (2, 120)
    urgent = await store.escalate("c", "complaint")  # jumps the queue
    assert urgent.position == 1


async def test_estimate_uses_recent_waits(store, clock):
    for i in range(4):
        await store.escalate(f"w{i}", "request_human")
        clock.advance(30)  # each waited 30 s at position 1
        await store.claim(f"w{i}", "alice")
    assert (await store.escalate("new", "request_human")).estimated_wait_seconds == 30
    assert (await store.escalate("newer", "request_human")).estimated_wait_seconds == 60


async def test_escalating_again_while_queued_keeps_the_place(store, clock):
    await store.escalate("a", "request_human")
    clock.advance(10)
    await store.escalate("b", "request_human")
    clock.advance(7)
    again = await store.escalate("b", "frustrated", context={"summary": "angry now"})
    assert again.already_queued and again.position == 1  # high beats normal
    conv = await store.get("b")
    assert conv.priority == "high" and conv.escalations == 1
    assert conv.context["summary"] == "angry now"
    assert conv.waiting_since == clock() - 7  # the wait did not restart
    lower = await store.escalate("b", "request_human", priority="low")
    assert lower.conversation.priority == "high"  # never lowered


async def test_claim_assigns_and_leaves_the_queue(store):
    await store.escalate("c1", "request_human")
    conv = await store.claim("c1", "alice")
    assert conv.state is State.ASSIGNED and conv.assigned_to == "alice"
    assert await store.queue() == []
    with pytest.raises(ClaimConflict, match="alice"):
        await store.claim("c1", "bob")
    await store.note_conversation_started("bot-only")
    with pytest.raises(ConversationNotFound):
        await store.claim("bot-only", "bob")
    with pytest.raises(InvalidInput):
        await store.claim("bad id with spaces", "bob")


async def test_cannot_escalate_an_assigned_conversation(store):
    await store.escalate("c1", "request_human")
    await store.claim("c1", "alice")
    with pytest.raises(InvalidTransition):
        await store.escalate("c1", "request_human")


async def test_transfer_rules(store):
    await store.escalate("c1", "request_human")
    with pytest.raises(InvalidTransition):
        await store.transfer("c1", "bob", by="alice")  # not assigned yet
    await store.claim("c1", "alice")
    with pytest.raises(NotAssignee):
        await store.transfer("c1", "carol", by="bob")
    with pytest.raises(InvalidTransition):
        await store.transfer("c1", "alice", by="alice")
    assert (await store.transfer("c1", "bob", by="alice")).assigned_to == "bob"
    assert (await store.transfer("c1", "carol", by="root", admin=True)).assigned_to == "carol"


async def test_release_hands_back_to_the_bot_and_allows_a_new_escalation(store):
    await store.escalate("c1", "request_human")
    await store.claim("c1", "alice")
    with pytest.raises(NotAssignee):
        await store.release("c1", by="bob")
    conv = await store.release("c1", by="alice")
    assert conv.state is State.BOT and conv.assigned_to is None
    with pytest.raises(InvalidTransition):
        await store.release("c1", by="alice")
    assert (await store.escalate("c1", "request_human")).conversation.escalations == 2


async def test_close_from_assigned_and_from_queued(store, clock):
    await store.escalate("a", "request_human")
    await store.claim("a", "alice")
    with pytest.raises(InvalidInput):
        await store.close("a", " ", by="alice")
    with pytest.raises(NotAssignee):
        await store.close("a", "solved", by="bob")
    conv = await store.close("a", "solved", by="alice")
    assert conv.state is State.CLOSED and conv.resolution == "solved" and conv.closed_at == clock()
    await store.escalate("spam", "request_human")
    assert (await store.close("spam", "spam", by="bob")).state is State.CLOSED
    assert await store.queue() == []
    with pytest.raises(InvalidTransition):
        await store.close("a", "solved", by="alice")


async def test_returning_customer_starts_a_fresh_episode(store, clock):
    await store.escalate("c1", "request_human")
    await store.claim("c1", "alice")
    await store.record_csr_message("c1", "alice", "hello")
    await store.close("c1", "solved", by="alice")
    await store.set_csat("c1", 4)
    clock.advance(100)
    conv = (await store.escalate("c1", "frustrated")).conversation
    assert conv.state is State.QUEUED and conv.escalations == 2
    assert conv.assigned_to is None and conv.claimed_at is None and conv.closed_at is None
    assert conv.first_csr_reply_at is None and conv.resolution is None and conv.csat is None
    assert [m["text"] for m in await store.transcript("c1")] == ["hello"]  # history kept


async def test_abandon_ticket_and_reopen(store):
    await store.escalate("a", "request_human")
    assert (await store.abandon("a")).state is State.ABANDONED
    await store.escalate("t", "request_human")
    with pytest.raises(InvalidInput):
        await store.leave_ticket("t", "not-an-email")
    conv = await store.leave_ticket("t", "jo@example.com")
    assert conv.state is State.TICKET and conv.ticket_email == "jo@example.com"
    # The ticket index holds ticket ids (TicketDesk); the conversation is not one of them.
    assert await store.tickets() == []
    assert await store.queue() == []
    assert (await store.reopen_bot("t")).state is State.BOT
    with pytest.raises(InvalidTransition):
        await store.abandon("t")


async def test_a_ticket_reply_reaches_the_transcript_of_a_conversation_that_is_over(store):
    await store.escalate("t", "request_human")
    await store.leave_ticket("t", "jo@example.com")
    message = await store.record_ticket_reply("t", "alice", "Parcel left today.", agent="Alice")
    assert message["sender"] == "csr" and message["agent"] == "Alice"
    assert (await store.transcript("t"))[-1]["text"] == "Parcel left today."
    assert (await store.get("t")).first_csr_reply_at is None  # chat metrics untouched
    with pytest.raises(ConversationNotFound):
        await store.record_ticket_reply("gone", "alice", "hello")


async def test_notes_and_messages(store, clock):
    await store.escalate("c1", "request_human", context=CONTEXT)
    note = await store.add_note("c1", "alice", "VIP customer")
    assert note == {"author": "alice", "text": "VIP customer", "timestamp": clock()}
    with pytest.raises(InvalidInput):
        await store.add_note("c1", "alice", "  ")
    with pytest.raises(ConversationNotFound):
        await store.add_note("nope", "alice", "x")
    with pytest.raises(InvalidTransition):
        await store.record_csr_message("c1", "alice", "too early")
    await store.claim("c1", "alice")
    with pytest.raises(NotAssignee):
        await store.record_csr_message("c1", "bob", "hi")
    clock.advance(5)
    await store.record_csr_message("c1", "alice", "Hi, I'm Alice", agent="Alice A.")
    first = (await store.get("c1")).first_csr_reply_at
    clock.advance(5)
    await store.record_csr_message("c1", "alice", "Let me check")
    assert (await store.get("c1")).first_csr_reply_at == first
    await store.record_customer_message("c1", "thanks", intent="thank", confidence=0.9)
    transcript = await store.transcript("c1")
    assert [(m["sender"], m["text"]) for m in transcript[2:]] == [
        ("csr", "Hi, I'm Alice"),
        ("csr", "Let me check"),
        ("customer", "thanks"),
    ]
    assert transcript[2]["agent"] == "Alice A." and transcript[3]["agent"] == "alice"
    assert transcript[4]["intent"] == "thank"
    assert [n["text"] for n in await store.notes("c1")] == ["VIP customer"]


async def test_card_numbers_never_reach_the_transcript(store):
    said = {"sender": "customer", "text": "card 4242 4242 4242 4242", "timestamp": 1.0}
    context = {"transcript": [said]}
    await store.escalate("c1", "request_human", context=context)
    stored = await store.record_customer_message("c1", "or maybe 4111-1111-1111-1111?")
    assert stored["text"] == "or maybe [card ending 1111]?"
    texts = [m["text"] for m in await store.transcript("c1")]
    assert texts == ["card [card ending 4242]", "or maybe [card ending 1111]?"]


async def test_csat(store):
    await store.escalate("c1", "request_human")
    with pytest.raises(InvalidTransition):
        await store.set_csat("c1", 5)
    await store.claim("c1", "alice")
    await store.close("c1", "solved", by="alice")
    for bad in (0, 6, "5", 4.5, True):
        with pytest.raises(InvalidInput):
            await store.set_csat("c1", bad)
    await store.set_csat("c1", 2)
    await store.set_csat("c1", 5)  # a re-rating replaces the first
    assert (await store.get("c1")).csat == 5
    assert (await store.metrics())["csat"] == {"average": 5.0, "count": 1}


async def test_metrics(store, clock):
    for conv_id in ("b1", "b2", "b3", "b4", "e1", "e2"):
        await store.note_conversation_started(conv_id)
    await store.note_conversation_started("b1")  # counted once
    waits = {"e1": 10, "e2": 30, "e3": 50}
    for conv_id, wait in waits.items():
        await store.escalate(conv_id, "complaint" if conv_id == "e3" else "request_human")
        clock.advance(wait)
        await store.claim(conv_id, "alice")
        clock.advance(wait)  # first reply comes as long after the claim
        await store.record_csr_message(conv_id, "alice", "hi")
        await store.close(conv_id, "solved", by="alice")
    await store.set_csat("e1", 5)
    await store.set_csat("e2", 3)
    m = await store.metrics()
    # e3 escalated without the bot noting the start: it still counts as a conversation
    assert m["conversations"] == 7 and m["escalated_conversations"] == 3
    assert m["containment_rate"] == pytest.approx(4 / 7)
    assert m["escalations"] == 3
    assert m["escalations_by_reason"] == {"request_human": 2, "complaint": 1}
    assert m["queue_wait_seconds"] == {"median": 30.0, "p90": 50.0, "count": 3}
    assert m["first_reply_seconds"]["median"] == 60.0
    assert m["csat"] == {"average": 4.0, "count": 2}
    assert m["queue_length"] == 0
    later = await store.metrics(since=clock() + 1)
    assert later["conversations"] == 0 and later["containment_rate"] is None
    assert later["queue_wait_seconds"] == {"median": None, "p90": None, "count": 0}


async def test_live_events_are_published(store):
    async with store.live_events() as feed:
        await store.escalate("c1", "request_human")
        await store.claim("c1", "alice")
        await store.record_customer_message("c1", "are you there?")
        got = [await asyncio.wait_for(feed.__anext__(), 2) for _ in range(3)]
    assert [e["type"] for e in got] == [
        "conversation.escalated",
        "conversation.claimed",
        "customer.message",
    ]
    assert got[0]["queue_changed"] and got[1]["assigned_to"] == "alice"
    assert got[2]["message"]["text"] == "are you there?"


async def test_expired_records_drop_out_of_the_queue(store, redis_client):
    await store.escalate("gone", "request_human")
    await store.escalate("here", "request_human")
    await redis_client.delete(keys.conversation("gone"))
    assert [c.id for c in await store.queue()] == ["here"]
    assert await redis_client.zrange(keys.QUEUE, 0, -1) == ["here"]


async def test_records_expire_and_keys_are_namespaced(store, redis_client):
    await store.escalate("c1", "request_human", context=CONTEXT)
    await store.add_note("c1", "alice", "note")
    for key in (keys.conversation("c1"), keys.transcript("c1"), keys.notes("c1")):
        assert 0 < await redis_client.ttl(key) <= 30 * 86400
    assert all(k.startswith("handoff:") for k in await redis_client.keys("*"))
    # ids may contain ':'; the kind-first layout keeps every key distinct anyway
    tricky = [
        f(i)
        for i in ("x", "x:notes", "notes:x")
        for f in (keys.conversation, keys.transcript, keys.notes, keys.outbox, keys.signals)
    ]
    assert len(set(tricky)) == len(tricky)
