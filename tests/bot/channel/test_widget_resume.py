"""A mail's resume link opens its conversation in the widget, with the whole thread (real HTTP)."""

from __future__ import annotations

import time

import jwt
import pytest
import redis.exceptions

from handoff.core.customer_tokens import CustomerTokens
from handoff.core.resume_links import ResumeLinks
from tests.support.auth import PASSWORD
from tests.support.widget import SECRET

pytestmark = pytest.mark.asyncio(loop_scope="module")


def token_of(url):
    return url.partition("#resume=")[2]


async def left_a_ticket(client, channel):
    """A customer chats with the bot, asks for a person out of hours and leaves a ticket."""
    session = await client.new_session()
    conv_id = session["conversation_id"]
    await channel.outbox.append(conv_id, {"sender": "bot", "text": "Hi! How can I help?"})
    now = time.time()
    transcript = [
        {"sender": "customer", "text": "Where is my parcel?", "timestamp": now},
        {"sender": "bot", "text": "Let me get a person.", "timestamp": now + 0.01},
    ]
    await channel.store.escalate(conv_id, "request_human", context={"transcript": transcript})
    tickets = channel.resources.tickets
    ticket = await tickets.open_from_conversation(
        conv_id, "ann@example.com", reason="request_human"
    )
    await channel.outbox.append(
        conv_id, {"sender": "system", "text": "Thanks! We'll email you at ann@example.com."}
    )
    return session, ticket


async def csr_replied(channel, ticket, text="It left our warehouse today."):
    auth = channel.resources.auth
    if await auth.get_account("alice") is None:
        await auth.create_account("alice", PASSWORD, "csr", display_name="Alice")
    return await channel.resources.tickets.reply(ticket.id, "alice", text)


async def test_the_link_opens_the_conversation_with_the_whole_thread(client, widget):
    channel = widget[2]
    session, ticket = await left_a_ticket(client, channel)
    await csr_replied(channel, ticket)
    await channel.resources.tickets.customer_replied(ticket.id, "Thanks, by mail!", via="email")
    url = channel.resume_links.url(session["conversation_id"], ticket.id)

    # Another device: no bearer token, only the link.
    resumed = await client.new_session(resume=token_of(url), page_url="https://shop.example/help")
    assert resumed["conversation_id"] == session["conversation_id"]
    assert resumed["resumed"] is True and resumed["ticket_id"] == ticket.id
    assert CustomerTokens(SECRET).verify(resumed["token"]) == session["conversation_id"]

    messages = await client.messages(resumed["token"])
    texts = [(m["sender"], m["text"]) for m in messages]
    assert texts[0] == ("bot", "Hi! How can I help?")
    assert ("csr", "It left our warehouse today.") in texts
    csr = next(m for m in messages if m["sender"] == "csr")
    assert csr["agent"] == "Alice"

    history = resumed["history"]
    assert [(h["text"], h["via"]) for h in history] == [
        ("Where is my parcel?", "chat"),
        ("Thanks, by mail!", "email"),
    ]
    # The chat message came after the bot's greeting; the mail after the CSR's answer.
    assert history[0]["after"] == messages[0]["id"]
    assert history[1]["after"] == csr["id"]


async def test_the_link_wins_over_another_conversations_token(client, widget):
    channel = widget[2]
    session, ticket = await left_a_ticket(client, channel)
    other = await client.new_session()
    status, body, _ = await client.call(
        "POST",
        "/session",
        token=other["token"],
        body={"resume": channel.resume_links.token(session["conversation_id"], ticket.id)},
    )
    assert status == 200 and body["conversation_id"] == session["conversation_id"]


@pytest.mark.parametrize(
    "make,code",
    ids=["tampered", "other-key", "widget-token", "expired", "not-a-string"],
    argvalues=[
        (lambda links: links.token("c1")[:-3] + "xyz", "invalid_resume_link"),
        (
            lambda links: ResumeLinks("x" * 40, page_url="http://a.b/", ttl_seconds=60).token("c1"),
            "invalid_resume_link",
        ),
        (lambda links: CustomerTokens(SECRET).issue("c1").token, "invalid_resume_link"),
        (
            lambda links: jwt.encode(
                {"sub": "c1", "aud": "resume", "exp": time.time() - 10}, SECRET, algorithm="HS256"
            ),
            "resume_link_expired",
        ),
        (lambda links: 12345, "invalid_resume_link"),
    ],
)
async def test_a_bad_link_is_refused(client, widget, make, code):
    status, body, _ = await client.call(
        "POST", "/session", body={"resume": make(widget[2].resume_links)}
    )
    assert status == 401 and body["error"]["code"] == code


async def test_a_normal_session_has_no_history(client):
    session = await client.new_session()
    assert "history" not in session and session["resumed"] is False


# ---- the customer carries on in the widget: the ticket hears of it ------------------------------


async def thread_of(channel, ticket):
    return await channel.resources.tickets.thread(ticket.id)


async def test_a_message_in_the_tickets_chat_reaches_the_ticket_and_the_bot(client, bot, widget):
    channel = widget[2]
    session, ticket = await left_a_ticket(client, channel)
    await csr_replied(channel, ticket)
    token = session["token"]

    status, body = await client.say(token, "Still not here, ann@example.com")
    assert status == 200
    # The bot answers as before; the ticket took the message and is the team's move again.
    assert bot.texts() == ["Still not here, ann@example.com"]
    notice, answer = body["messages"]
    assert notice["sender"] == "system" and notice["ticket_id"] == ticket.id
    assert notice["text"] == f"Added to your ticket {ticket.id}: the team will answer here."
    assert answer == {**answer, "sender": "bot", "text": "echo: Still not here, ann@example.com"}
    *_, written = await thread_of(channel, ticket)
    # Masked as in the transcript: CSRs read the thread.
    assert written == {**written, "sender": "customer", "via": "widget"}
    assert written["text"] == "Still not here, a***@example.com"
    assert (await channel.resources.tickets.get(ticket.id)).status.value == "open"

    # The ticket is open already: the next message joins it without another notice.
    status, body = await client.say(token, "Any news?")
    assert status == 200 and [m["sender"] for m in body["messages"]] == ["bot"]
    assert (await thread_of(channel, ticket))[-1]["text"] == "Any news?"

    # Back through the link later: these messages are in the history, as written in the chat.
    url = channel.resume_links.url(session["conversation_id"], ticket.id)
    resumed = await client.new_session(resume=token_of(url))
    assert [(h["text"], h["via"]) for h in resumed["history"]] == [
        ("Where is my parcel?", "chat"),
        ("Still not here, a***@example.com", "chat"),
        ("Any news?", "chat"),
    ]


async def test_a_message_reopens_a_solved_ticket(client, bot, widget):
    channel = widget[2]
    session, ticket = await left_a_ticket(client, channel)
    await csr_replied(channel, ticket)
    await channel.resources.tickets.update(ticket.id, "alice", status="solved")

    status, body = await client.say(session["token"], "It broke again")
    assert status == 200 and bot.texts() == ["It broke again"]
    assert [m["sender"] for m in body["messages"]] == ["system", "bot"]
    reopened = await channel.resources.tickets.get(ticket.id)
    assert reopened.status.value == "open" and reopened.reopen_count == 1


async def test_a_chat_without_a_ticket_leaves_the_tickets_alone(client, bot, widget):
    channel = widget[2]
    session, ticket = await left_a_ticket(client, channel)
    other = await client.new_session()
    status, body = await client.say(other["token"], "hello")
    assert status == 200 and [m["sender"] for m in body["messages"]] == ["bot"]
    assert [m["sender"] for m in await thread_of(channel, ticket)] == ["system"]


async def test_a_ticket_that_cannot_take_the_message_does_not_keep_it_from_the_bot(
    client, bot, widget, monkeypatch
):
    channel = widget[2]
    session, ticket = await left_a_ticket(client, channel)
    await csr_replied(channel, ticket)

    async def redis_down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(channel.resources.tickets, "customer_replied", redis_down)
    status, body = await client.say(session["token"], "Hello?")
    assert status == 200 and bot.texts() == ["Hello?"]
    assert [m["text"] for m in body["messages"]] == ["echo: Hello?"]  # no notice either
