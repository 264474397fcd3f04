"""The ticket desk against the session's real Redis, with the real mail outbox and resume links."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
import redis.asyncio as aioredis

from handoff.core import keys
from handoff.core.customers import customer_key
from handoff.core.errors import (
    Conflict,
    ConversationNotFound,
    InvalidInput,
    InvalidTransition,
    NotAssignee,
    TicketNotFound,
)
from handoff.core.lifecycle import State
from handoff.core.mail import MailOutbox, OutgoingEmail
from handoff.core.outbox import Outbox
from handoff.core.resume_links import ResumeLinks
from handoff.core.settings import WEEKDAYS, BusinessHours, EmailSettings, TicketsConfig
from handoff.core.sla import HOUR, SlaPolicy
from handoff.core.tickets import Ticket, TicketDesk, TicketStatus
from tests.support.auth import PASSWORD, SECRET

# Around the clock, so due times are plain additions and the fake clock decides breaches.
ALWAYS = BusinessHours(weekdays=WEEKDAYS, open=dt.time(0), close=dt.time(0))
MAIL_ON = EmailSettings(smtp_host="smtp.shop.example", inbound_secret="s" * 32)


@pytest.fixture
async def accounts(auth):
    await auth.create_account("alice", PASSWORD, "csr", display_name="Alice")
    await auth.create_account("bob", PASSWORD, "csr", display_name="Bob")
    return auth


def make_desk(redis_client, store, auth, clock, email=MAIL_ON):
    return TicketDesk(
        redis_client,
        store,
        sla=SlaPolicy(ALWAYS, TicketsConfig().sla),
        mail_outbox=MailOutbox(redis_client),
        resume_links=ResumeLinks(SECRET, page_url="https://shop.example/help", ttl_seconds=3600),
        secret=SECRET,
        clock=clock,
        auth=auth,
        email_settings=email,
        max_message_chars=500,
    )


@pytest.fixture
def desk(redis_client, store, accounts, clock):
    return make_desk(redis_client, store, accounts, clock)


async def queued(store, conv_id="c1", reason="request_human", text="Where is my parcel?"):
    await store.escalate(
        conv_id,
        reason,
        context={"transcript": [{"sender": "customer", "text": text, "timestamp": 1.0}]},
    )


async def mails(redis_client):
    entries = await redis_client.xrange(keys.MAIL_OUTBOX)
    return [OutgoingEmail.from_dict(json.loads(fields["email"])) for _, fields in entries]


async def live_events(redis_client):
    entries = await redis_client.xrange(keys.WEBHOOK_EVENTS)
    return [json.loads(fields["event"]) for _, fields in entries]


async def samples(redis_client, key):
    return [json.loads(s) for s in await redis_client.zrange(key, 0, -1)]


# ---- opening -------------------------------------------------------------------------------------


async def test_the_subject_is_the_request_not_the_address_typed_for_the_ticket(desk, store):
    # As the bot escalates: the ticket form's answer is the last thing the customer said.
    transcript = [
        {"sender": "customer", "text": "My lamp arrived broken", "timestamp": 1.0},
        {"sender": "bot", "text": "What email address should we reply to?", "timestamp": 2.0},
        {"sender": "customer", "text": "sam@example.com", "timestamp": 3.0},
    ]
    await store.escalate("c1", "request_human", context={"transcript": transcript})
    ticket = await desk.open_from_conversation("c1", "sam@example.com", reason="request_human")
    assert ticket.subject == "My lamp arrived broken"


async def test_a_chat_out_of_hours_becomes_a_ticket_with_due_times(
    desk, store, clock, redis_client
):
    await queued(store, reason="complaint")  # the store's fixture makes complaints urgent
    ticket = await desk.open_from_conversation("c1", " Sam@Example.com ", reason="complaint")

    assert ticket.id == "T-1001" and ticket.status is TicketStatus.OPEN
    assert ticket.subject == "Where is my parcel?" and ticket.priority == "urgent"
    assert ticket.source == "out_of_hours" and ticket.assignee is None
    assert ticket.email == "Sam@Example.com"
    assert ticket.customer_key == customer_key(SECRET, "sam@example.com")
    assert ticket.first_reply_due == clock.now + 1 * HOUR
    assert ticket.resolution_due == clock.now + 8 * HOUR
    conv = await store.get("c1")
    assert conv.state is State.TICKET and await store.queue() == []
    assert await store.tickets() == ["T-1001"]
    assert await desk.get("T-1001") == ticket
    assert [t.id for t in await desk.for_customer(ticket.customer_key)] == ["T-1001"]
    [opened] = await desk.thread("T-1001")
    assert opened["sender"] == "system" and "outside opening hours" in opened["text"]
    [event] = [e for e in await live_events(redis_client) if e["type"].startswith("ticket.")]
    assert event == {
        "type": "ticket.opened",
        "ticket_id": "T-1001",
        "conversation_id": "c1",
        "status": "open",
        "priority": "urgent",
        "assignee": None,
        "at": clock.now,
        "source": "out_of_hours",
    }
    # No email address ever appears in a key name.
    assert not [k for k in await redis_client.keys("*") if "@" in k.lower()]


async def test_opening_checks_its_input(desk, store):
    await queued(store)
    for bad in (
        dict(conv_id="c1", email="nope", reason="x"),
        dict(conv_id="c 1", email="a@b.example", reason="x"),
        dict(conv_id="c1", email="a@b.example", reason=""),
        dict(conv_id="c1", email="a@b.example", reason="x", source="csr"),
    ):
        with pytest.raises(InvalidInput):
            await desk.open_from_conversation(
                bad["conv_id"],
                bad["email"],
                reason=bad["reason"],
                source=bad.get("source", "team_away"),
            )
    with pytest.raises(ConversationNotFound):
        await desk.open_from_conversation("never", "a@b.example", reason="request_human")
    await store.claim("c1", "alice")
    with pytest.raises(InvalidTransition):  # a CSR has it: no ticket
        await desk.open_from_conversation("c1", "a@b.example", reason="request_human")


async def test_a_csr_opens_a_follow_up_ticket_with_a_first_note(desk, store, clock):
    await queued(store)
    ticket = await desk.open_by_csr(
        "alice",
        subject="Follow up tomorrow\nwhen the courier answers",
        priority="high",
        conversation_id="c1",
        email="sam@example.com",
        note="Courier ref 991",
    )
    assert ticket.source == "csr" and ticket.assignee == "alice" and ticket.priority == "high"
    assert ticket.subject == "Follow up tomorrow when the courier answers"
    assert ticket.reason == "request_human" and ticket.conversation_id == "c1"
    assert ticket.first_reply_due == clock.now + 4 * HOUR
    [note] = await desk.notes(ticket.id)
    assert note == {"author": "alice", "text": "Courier ref 991", "at": clock.now}
    standalone = await desk.open_by_csr("bob", subject="Call the warehouse")
    assert standalone.conversation_id is None and standalone.email is None
    assert standalone.reason == "csr" and standalone.id == "T-1002"
    for bad in (
        dict(subject=""),
        dict(subject="x", priority="asap"),
        dict(subject="x", email="not an email"),
        dict(subject="x\x00"),
        dict(subject="x", note="n" * 501),
    ):
        with pytest.raises(InvalidInput):
            await desk.open_by_csr("alice", **bad)
    with pytest.raises(ConversationNotFound):
        await desk.open_by_csr("alice", subject="x", conversation_id="nope")


# ---- the inbox -----------------------------------------------------------------------------------


async def test_the_inbox_filters_by_status_assignee_and_breach(desk, store, clock):
    first = await desk.open_by_csr("alice", subject="urgent one", priority="urgent")
    clock.advance(10)
    second = await desk.open_by_csr("bob", subject="low one", priority="low")
    clock.advance(2 * HOUR)  # the urgent ticket's first reply (1 h) is now late

    assert [t.id for t in await desk.list()] == [second.id, first.id]
    assert [t.id for t in await desk.list(assignee="alice")] == [first.id]
    assert [t.id for t in await desk.list(breached=True)] == [first.id]
    assert [t.id for t in await desk.list(breached=False)] == [second.id]
    assert [t.id for t in await desk.list(status="open", limit=1)] == [second.id]
    assert await desk.list(status="solved") == []
    assert await desk.list(assignee="") == []
    with pytest.raises(InvalidInput):
        await desk.list(status="closed")
    view = (await desk.get(first.id)).to_dict(clock.now)
    assert view["breached"] == {"first_reply": True, "resolution": False}
    assert view["status"] == "open"
    assert {t.id for t in await desk.backlog()} == {first.id, second.id}
    assert await desk.open_count() == 2
    with pytest.raises(TicketNotFound) as caught:
        await desk.get("T-9")
    assert caught.value.code == "ticket_not_found"
    with pytest.raises(InvalidInput):
        await desk.get("T 9")


# ---- replies -------------------------------------------------------------------------------------


async def test_a_reply_goes_by_email_and_to_the_chat_and_waits_on_the_customer(
    desk, store, clock, redis_client
):
    await queued(store)
    ticket = await desk.open_from_conversation("c1", "sam@example.com", reason="request_human")
    clock.advance(30 * 60)
    result = await desk.reply(ticket.id, "alice", "Your parcel left the depot today.")

    assert result["emailed"] and result["in_chat"]
    assert result["ticket"]["status"] == "pending_customer"
    assert result["ticket"]["assignee"] == "alice"  # whoever answers an unassigned one has it
    assert result["message"] == {
        "sender": "csr",
        "text": "Your parcel left the depot today.",
        "at": clock.now,
        "via": "email",
        "author": "alice",
        "agent": "Alice",
    }
    assert (await desk.thread(ticket.id))[-1] == result["message"]
    # The chat: the transcript a CSR reads and the outbox the widget shows.
    assert (await store.transcript("c1"))[-1]["text"] == "Your parcel left the depot today."
    [(_, shown)] = await Outbox(redis_client).read_after("c1")
    assert shown["sender"] == "csr" and shown["agent"] == "Alice"
    assert shown["ticket_id"] == ticket.id  # an answer to the ticket, not a live chat
    # The mail, with a link that reopens this conversation and ticket.
    [sent] = await mails(redis_client)
    assert sent.to == "sam@example.com" and sent.ticket_id == ticket.id
    assert "Your parcel left the depot today." in sent.text
    link = next(line for line in sent.text.splitlines() if "#resume=" in line)
    links = ResumeLinks(SECRET, page_url="https://shop.example/help", ttl_seconds=3600)
    assert links.verify(link.split("#resume=")[1]) == ("c1", ticket.id)
    # The first reply's SLA sample, in business seconds.
    [sample] = await samples(redis_client, keys.METRICS_TICKET_REPLIES)
    assert sample["ticket"] == ticket.id and sample["seconds"] == 30 * 60
    assert sample["met"] is True and sample["csr"] == "alice" and sample["priority"] == "normal"

    clock.advance(60)
    await desk.reply(ticket.id, "alice", "And here is the tracking number: 123.")
    assert len(await samples(redis_client, keys.METRICS_TICKET_REPLIES)) == 1  # first only
    assert len(await mails(redis_client)) == 2
    types = [e["type"] for e in await live_events(redis_client)]
    assert types.count("ticket.replied") == 2


async def test_a_late_first_reply_is_counted_as_missed(desk, clock, redis_client):
    ticket = await desk.open_by_csr(
        "alice", subject="Refund", priority="urgent", email="sam@example.com"
    )
    clock.advance(2 * HOUR)
    await desk.reply(ticket.id, "alice", "Refunded.")
    [sample] = await samples(redis_client, keys.METRICS_TICKET_REPLIES)
    assert sample["met"] is False and sample["seconds"] == 2 * HOUR
    assert (await desk.get(ticket.id)).to_dict(clock.now)["breached"]["first_reply"] is True


async def test_without_email_the_reply_only_reaches_the_chat(redis_client, store, accounts, clock):
    desk = make_desk(redis_client, store, accounts, clock, email=EmailSettings())  # mail off
    await queued(store)
    ticket = await desk.open_from_conversation("c1", "sam@example.com", reason="request_human")
    result = await desk.reply(ticket.id, "alice", "Hello again")
    assert result["in_chat"] and not result["emailed"] and result["message"]["via"] == "chat"
    assert await mails(redis_client) == []

    alone = await desk.open_by_csr("alice", subject="Phone call", email="sam@example.com")
    with pytest.raises(Conflict) as caught:
        await desk.reply(alone.id, "alice", "Hello")
    assert caught.value.code == "no_reply_channel"


async def test_a_ticket_with_neither_email_nor_chat_cannot_be_answered(desk, redis_client):
    ticket = await desk.open_by_csr("alice", subject="Internal follow-up")
    with pytest.raises(Conflict) as caught:
        await desk.reply(ticket.id, "alice", "Hello")
    assert caught.value.code == "no_reply_channel"
    assert len(await desk.thread(ticket.id)) == 1  # nothing was written
    # With only an email (no conversation) the mail carries no resume link.
    mailed = await desk.open_by_csr("alice", subject="By mail", email="sam@example.com")
    await desk.reply(mailed.id, "alice", "Hello by mail")
    [sent] = await mails(redis_client)
    assert "#resume=" not in sent.text


async def test_reply_rules(desk):
    ticket = await desk.open_by_csr("alice", subject="x", email="sam@example.com")
    with pytest.raises(InvalidInput):
        await desk.reply(ticket.id, "alice", "   ")
    with pytest.raises(InvalidInput):
        await desk.reply(ticket.id, "alice", "x" * 501)
    with pytest.raises(NotAssignee):
        await desk.reply(ticket.id, "bob", "mine now")
    await desk.reply(ticket.id, "bob", "an admin may", admin=True)
    await desk.update(ticket.id, "alice", status="solved")
    with pytest.raises(InvalidTransition):
        await desk.reply(ticket.id, "alice", "after solving")
    with pytest.raises(TicketNotFound):
        await desk.reply("T-1", "alice", "hello")


# ---- status, assignee, priority ------------------------------------------------------------------


async def test_solving_records_the_resolution_and_a_customer_reply_reopens(
    desk, clock, redis_client
):
    ticket = await desk.open_by_csr("alice", subject="Broken lamp", email="sam@example.com")
    clock.advance(HOUR)
    await desk.reply(ticket.id, "alice", "Could you send a photo?")
    clock.advance(HOUR)
    back = await desk.customer_replied(ticket.id, "Here it is.", via="email")
    assert back.status is TicketStatus.OPEN and back.reopen_count == 0
    clock.advance(HOUR)
    solved = await desk.update(ticket.id, "alice", status="solved")
    assert solved.status is TicketStatus.SOLVED and solved.solved_at == clock.now
    [sample] = await samples(redis_client, keys.METRICS_TICKETS_SOLVED)
    assert sample["ticket"] == ticket.id and sample["seconds"] == 3 * HOUR
    assert sample["met"] is True and sample["first_reply_met"] is True
    assert sample["csr"] == "alice" and sample["reason"] == "csr"
    # Setting solved again is not a second resolution.
    await desk.update(ticket.id, "alice", status="solved")
    assert len(await samples(redis_client, keys.METRICS_TICKETS_SOLVED)) == 1

    clock.advance(HOUR)
    reopened = await desk.customer_replied(ticket.id, "It broke again", via="widget")
    assert reopened.status is TicketStatus.OPEN and reopened.reopen_count == 1
    assert reopened.solved_at is None
    [reopen] = await samples(redis_client, keys.METRICS_REOPENS)
    assert reopen == {
        "subject": ticket.id,
        "kind": "ticket",
        "csr": "alice",
        "reason": "csr",
        "at": clock.now,
    }
    thread = await desk.thread(ticket.id)
    assert [(m["sender"], m["via"]) for m in thread[1:]] == [
        ("csr", "email"),
        ("customer", "email"),
        ("customer", "widget"),
    ]
    types = [e["type"] for e in await live_events(redis_client) if e["type"].startswith("ticket.")]
    assert types == [
        "ticket.opened",
        "ticket.replied",
        "ticket.customer_replied",
        "ticket.solved",
        "ticket.updated",
        "ticket.customer_replied",
        "ticket.reopened",
    ]
    with pytest.raises(InvalidInput):
        await desk.customer_replied(ticket.id, "hi", via="fax")
    with pytest.raises(TicketNotFound):
        await desk.customer_replied("T-77", "hi", via="email")


async def test_simultaneous_customer_replies_reopen_a_solved_ticket_once(
    desk, redis_client, redis_db, store, accounts, clock
):
    ticket = await desk.open_by_csr("alice", subject="x", email="sam@example.com")
    await desk.update(ticket.id, "alice", status="solved")
    # Each reply on a client (and connection pool) of its own, all at once.
    clients = [aioredis.from_url(redis_db, decode_responses=True) for _ in range(8)]
    try:
        desks = [make_desk(c, store, accounts, clock) for c in clients]
        results = await asyncio.gather(
            *(d.customer_replied(ticket.id, f"reply {i}", via="email") for i, d in enumerate(desks))
        )
    finally:
        for c in clients:
            await c.close()
    assert {r.status for r in results} == {TicketStatus.OPEN}
    final = await desk.get(ticket.id)
    assert final.reopen_count == 1
    assert len(await samples(redis_client, keys.METRICS_REOPENS)) == 1
    assert len(await desk.thread(ticket.id)) == 1 + 8  # every reply kept


async def test_assignee_and_priority_changes(desk, clock):
    ticket = await desk.open_by_csr("alice", subject="x", priority="low")
    clock.advance(HOUR)
    raised = await desk.update(ticket.id, "alice", priority="urgent", assignee="bob")
    assert raised.assignee == "bob" and raised.priority == "urgent"
    # The targets count from the opening, not from the change.
    assert raised.first_reply_due == ticket.created_at + HOUR
    assert raised.resolution_due == ticket.created_at + 8 * HOUR
    with pytest.raises(NotAssignee):
        await desk.update(ticket.id, "alice", status="solved")  # bob's now
    unassigned = await desk.update(ticket.id, "bob", assignee="")
    assert unassigned.assignee is None
    for bad in (dict(assignee="nobody"), dict(priority="asap"), dict(status="closed")):
        with pytest.raises(InvalidInput):
            await desk.update(ticket.id, "alice", **bad)
    back = await desk.update(ticket.id, "root", status="pending_customer", admin=True)
    assert back.status is TicketStatus.PENDING_CUSTOMER
    with pytest.raises(TicketNotFound):
        await desk.update("T-5", "alice", status="open")


async def test_notes_stay_internal_and_follow_the_assignee_rule(desk, redis_client):
    ticket = await desk.open_by_csr("alice", subject="x", email="sam@example.com")
    note = await desk.add_note(ticket.id, "alice", "customer is a VIP")
    assert note["author"] == "alice" and (await desk.notes(ticket.id)) == [note]
    with pytest.raises(NotAssignee):
        await desk.add_note(ticket.id, "bob", "hm")
    with pytest.raises(InvalidInput):
        await desk.add_note(ticket.id, "alice", "")
    assert await mails(redis_client) == []
    assert [m["sender"] for m in await desk.thread(ticket.id)] == ["system"]


# ---- erasure -------------------------------------------------------------------------------------


async def test_delete_erases_every_trace(desk, store, redis_client):
    await queued(store)
    ticket = await desk.open_from_conversation("c1", "sam@example.com", reason="request_human")
    await desk.add_note(ticket.id, "alice", "note", admin=True)
    await desk.delete(ticket.id)
    await desk.delete(ticket.id)  # twice is fine
    with pytest.raises(TicketNotFound):
        await desk.get(ticket.id)
    assert await desk.list() == [] and await desk.for_customer(ticket.customer_key) == []
    assert not [k for k in await redis_client.keys("handoff:ticket*") if ticket.id in k]


async def test_a_conversation_knows_its_newest_ticket(desk, store, redis_client):
    assert await desk.of_conversation("c1") is None
    await queued(store)
    first = await desk.open_from_conversation("c1", "sam@example.com", reason="request_human")
    assert await desk.of_conversation("c1") == first
    assert await redis_client.get(keys.conversation_ticket("c1")) == first.id
    follow_up = await desk.open_by_csr("alice", subject="Courier", conversation_id="c1")
    assert await desk.of_conversation("c1") == follow_up  # the newest one
    await desk.open_by_csr("alice", subject="No chat")  # a ticket without one points nowhere
    assert not [
        k for k in await redis_client.keys("handoff:conversation_ticket:*") if "c1" not in k
    ]
    with pytest.raises(InvalidInput):
        await desk.of_conversation("no spaces allowed")

    # Deleting an older ticket leaves the pointer to the newer one; deleting that one drops it.
    await desk.delete(first.id)
    assert await desk.of_conversation("c1") == follow_up
    await desk.delete(follow_up.id)
    assert await desk.of_conversation("c1") is None
    assert not await redis_client.exists(keys.conversation_ticket("c1"))


async def test_a_pointer_to_a_ticket_gone_another_way_finds_nothing(desk, store, redis_client):
    await queued(store)
    ticket = await desk.open_from_conversation("c1", "sam@example.com", reason="request_human")
    await redis_client.delete(keys.ticket(ticket.id))
    assert await desk.of_conversation("c1") is None


def test_a_ticket_survives_its_hash_round_trip():
    ticket = Ticket(id="T-1", subject="s", status=TicketStatus.SOLVED, solved_at=5.0)
    assert Ticket.from_hash(ticket.to_hash()) == ticket
