"""Ticket mails (headers, threading, signed reply addresses) and the mail outbox on real Redis."""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import pytest

from handoff.core import keys
from handoff.core.errors import InvalidInput
from handoff.core.mail import (
    MailOutbox,
    OutgoingEmail,
    reply_address,
    thread_id,
    ticket_of_addresses,
    ticket_of_subject,
    ticket_reply,
)
from handoff.core.settings import EmailSettings
from handoff.core.tickets import Ticket

INBOUND = "inbound-secret-for-tests-0123456789"
SETTINGS = EmailSettings(
    smtp_host="127.0.0.1",
    from_address="support@shop.example",
    from_name="Harbor & Pine Support",
    inbound_secret=INBOUND,
)
TICKET = Ticket(
    id="T-1042", conversation_id="c1", subject="Where is\nmy parcel?", email="ann@example.com"
)
LINK = "http://127.0.0.1:5080/demo#resume=abc.def.ghi"


def reply(**kwargs):
    return ticket_reply(
        kwargs.pop("ticket", TICKET),
        agent="Alice",
        text="It left our warehouse today.",
        resume_url=kwargs.pop("resume_url", LINK),
        settings=kwargs.pop("settings", SETTINGS),
    )


def test_a_ticket_reply_says_what_the_csr_wrote_with_the_resume_link():
    mail = reply()
    assert mail.to == "ann@example.com"
    assert mail.subject == "Re: [T-1042] Where is my parcel?"  # one line, whatever the subject
    assert "It left our warehouse today." in mail.text
    assert "Alice, Harbor & Pine Support" in mail.text
    assert LINK in mail.text and "30 days" in mail.text
    assert "[T-1042]" in mail.text
    assert mail.ticket_id == "T-1042"


def test_without_a_link_the_mail_only_invites_a_reply():
    mail = reply(resume_url="")
    assert "#resume=" not in mail.text and "reply to this email" in mail.text


def test_a_ticket_without_an_address_gets_no_mail():
    with pytest.raises(InvalidInput):
        reply(ticket=Ticket(id="T-1", subject="x", email=None))


def test_the_message_threads_in_mail_clients():
    first, second = reply(), reply()
    assert first.message_id != second.message_id
    assert first.message_id.endswith("@shop.example>")
    raw = first.to_message().as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["From"] == "Harbor & Pine Support <support@shop.example>"
    assert parsed["To"] == "ann@example.com"
    assert parsed["Message-ID"] == first.message_id
    assert parsed["In-Reply-To"] == thread_id("T-1042", SETTINGS) == "<ticket-T-1042@shop.example>"
    assert parsed["References"] == parsed["In-Reply-To"]
    assert parsed["Reply-To"] == first.reply_to
    assert parsed["Date"]
    assert "It left our warehouse today." in parsed.get_body(("plain",)).get_content()


def test_a_mail_survives_the_outbox_round_trip():
    mail = reply()
    assert OutgoingEmail.from_dict(json.loads(json.dumps(mail.to_dict()))) == mail


# ---- reply addresses ---------------------------------------------------------------------------


def test_replies_go_to_a_signed_plus_address_naming_the_ticket():
    address = reply_address(SETTINGS, "T-1042")
    local, _, domain = address.partition("@")
    assert domain == "shop.example" and local.startswith("support+T-1042-")
    assert ticket_of_addresses(SETTINGS, f"Support <{address}>") == "T-1042"
    assert ticket_of_addresses(SETTINGS, address.upper()) == "T-1042"  # relays may change case
    assert ticket_of_addresses(SETTINGS, f"someone@else.example, {address}") == "T-1042"


def test_a_guessed_or_foreign_address_names_no_ticket():
    good = reply_address(SETTINGS, "T-1042")
    guessed = good.replace("T-1042", "T-1043")
    assert ticket_of_addresses(SETTINGS, guessed) is None
    assert ticket_of_addresses(SETTINGS, "support+T-1042-0000000000000000@shop.example") is None
    assert ticket_of_addresses(SETTINGS, good.replace("shop.example", "evil.example")) is None
    other = EmailSettings(inbound_secret="another-inbound-secret-0123456789")
    assert ticket_of_addresses(other, good) is None
    assert ticket_of_addresses(SETTINGS, "support@shop.example") is None
    assert ticket_of_addresses(SETTINGS, None) is None


def test_without_an_inbound_secret_replies_go_to_the_plain_address():
    plain = EmailSettings(reply_to_address="help@shop.example")
    assert reply_address(plain, "T-1042") == "help@shop.example"
    assert ticket_of_addresses(plain, "help+T-1042-0123456789abcdef@shop.example") is None


@pytest.mark.parametrize(
    "subject,ticket",
    [("Re: [T-1042] Where is my parcel?", "T-1042"), ("RE: re: [t-7] x", "T-7"), ("Hello", None)],
)
def test_the_subject_may_name_a_ticket(subject, ticket):
    assert ticket_of_subject(subject) == ticket


# ---- the outbox --------------------------------------------------------------------------------


async def test_queued_mail_is_read_once_by_the_group_and_forgotten_when_sent(redis_client):
    outbox = MailOutbox(redis_client)
    await outbox.ensure_group()
    await outbox.ensure_group()  # a second instance starting: not an error
    mail = reply()
    entry_id = await outbox.enqueue(mail)
    ((got_id, got, attempts, _error),) = await outbox.read("a", count=10, block_ms=10)
    assert (got_id, got, attempts) == (entry_id, mail, 0)
    assert await outbox.read("b", count=10, block_ms=10) == []  # once per group
    await outbox.sent(entry_id)
    assert await redis_client.xlen(keys.MAIL_OUTBOX) == 0  # no customer's mail is kept


async def test_mail_queued_before_any_mailer_started_is_sent_too(redis_client):
    outbox = MailOutbox(redis_client)
    entry_id = await outbox.enqueue(reply())
    await outbox.ensure_group()
    assert [e[0] for e in await outbox.read("a", count=10, block_ms=10)] == [entry_id]


async def test_a_retry_waits_until_due_and_keeps_its_count(redis_client):
    outbox = MailOutbox(redis_client)
    await outbox.ensure_group()
    mail = reply()
    entry_id = await outbox.enqueue(mail)
    await outbox.read("a", count=10, block_ms=10)
    await outbox.retry_later(entry_id, mail, 1, "421 busy", due=1000.0)
    assert await outbox.next_retry_at() == 1000.0
    assert await outbox.move_due(999.0) == 0
    assert await outbox.move_due(1000.0) == 1
    assert await outbox.next_retry_at() is None
    ((_id, again, attempts, error),) = await outbox.read("a", count=10, block_ms=10)
    assert (again, attempts, error) == (mail, 1, "421 busy")


async def test_failures_are_kept_with_their_reason(redis_client):
    outbox = MailOutbox(redis_client)
    await outbox.ensure_group()
    entry_id = await outbox.enqueue(reply())
    await outbox.read("a", count=10, block_ms=10)
    await outbox.failed(entry_id, reply(), 1, "550 no such user")
    (failure,) = await outbox.failures()
    assert failure["reason"] == "550 no such user" and failure["attempts"] == 1
    assert failure["email"]["ticket_id"] == "T-1042"
    assert await redis_client.xlen(keys.MAIL_OUTBOX) == 0


async def test_an_entry_that_is_no_mail_goes_to_the_failures(redis_client):
    outbox = MailOutbox(redis_client)
    await outbox.ensure_group()
    await redis_client.xadd(keys.MAIL_OUTBOX, {"email": "{not json"})
    assert await outbox.read("a", count=10, block_ms=10) == []
    (failure,) = await outbox.failures()
    assert failure["reason"].startswith("malformed outbox entry")


async def test_an_abandoned_mail_is_taken_over(redis_client):
    outbox = MailOutbox(redis_client)
    await outbox.ensure_group()
    entry_id = await outbox.enqueue(reply())
    await outbox.read("crashed", count=10, block_ms=10)
    assert await outbox.reclaim("b", min_idle_ms=60_000, count=10) == []  # not idle long enough
    assert [e[0] for e in await outbox.reclaim("b", min_idle_ms=0, count=10)] == [entry_id]


async def test_only_addresses_are_queued(redis_client):
    with pytest.raises(InvalidInput):
        await MailOutbox(redis_client).enqueue(
            reply().__class__(**{**reply().to_dict(), "to": "x"})
        )
