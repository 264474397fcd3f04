"""Mail from a real Redis outbox to a real SMTP server (aiosmtpd), with retries and takeovers."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest

from handoff.core import keys
from handoff.core.mail import MailOutbox, ticket_reply
from handoff.core.settings import EmailSettings, from_mapping
from handoff.core.tickets import Ticket
from handoff.delivery.smtp import MailDeliverer, classify
from tests.support.auth import SECRET
from tests.support.handoff_api import running
from tests.support.redis_server import free_port
from tests.support.smtp import SmtpServer, running_smtp
from tests.support.waiting import eventually

INBOUND = "inbound-secret-for-tests-0123456789"


def settings_for(port, **overrides):
    values = dict(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        smtp_timeout_seconds=5.0,
        inbound_secret=INBOUND,
        max_attempts=5,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
    )
    values.update(overrides)
    return EmailSettings(**values)


def mail_for(ticket_id="T-1042", to="ann@example.com", settings=None):
    ticket = Ticket(id=ticket_id, conversation_id="c1", subject="Where is my parcel?", email=to)
    return ticket_reply(
        ticket,
        agent="Alice",
        text=f"Answer to {ticket_id}.",
        resume_url="http://127.0.0.1:5080/demo#resume=tok",
        settings=settings or settings_for(25),
    )


@pytest.fixture
def smtp():
    with running_smtp() as server:
        yield server


@asynccontextmanager
async def delivering(redis_client, settings, **kwargs):
    deliverer = MailDeliverer(MailOutbox(redis_client), settings, poll_seconds=0.05, **kwargs)
    await deliverer.start()
    try:
        yield deliverer
    finally:
        await deliverer.stop()


async def outbox_empty(redis_client):
    """No mail left in the outbox, none read and unfinished."""
    pending = await redis_client.xpending(keys.MAIL_OUTBOX, "mailers")
    return pending["pending"] == 0 and await redis_client.xlen(keys.MAIL_OUTBOX) == 0


async def failures(redis_client):
    return await MailOutbox(redis_client).failures()


async def test_a_queued_mail_arrives_with_its_headers(redis_client, smtp):
    settings = settings_for(smtp.port)
    outbox = MailOutbox(redis_client)
    async with delivering(redis_client, settings):
        mail = mail_for(settings=settings)
        await outbox.enqueue(mail)
        (got,) = await eventually(smtp.areceived, what="the mail")
        await eventually(lambda: outbox_empty(redis_client), what="the mail deleted")
    assert got.mail_from == "support@shop.example"
    assert got.rcpt_tos == ["ann@example.com"]
    assert got.message["Subject"] == "Re: [T-1042] Where is my parcel?"
    assert got.message["Message-ID"] == mail.message_id
    assert got.message["In-Reply-To"] == "<ticket-T-1042@shop.example>"
    assert got.message["Reply-To"].startswith("support+T-1042-")
    assert "Answer to T-1042." in got.text and "#resume=tok" in got.text
    assert await failures(redis_client) == []


async def test_mail_waits_for_a_server_that_is_down_and_goes_out_when_it_is_back(redis_client):
    port = free_port()
    settings = settings_for(port, max_attempts=50)
    server = SmtpServer(port)
    async with delivering(redis_client, settings):
        await MailOutbox(redis_client).enqueue(mail_for(settings=settings))

        async def retried():
            waiting = await redis_client.zrange(keys.MAIL_RETRY, 0, -1)
            return [json.loads(m) for m in waiting if json.loads(m)["attempts"] >= 2]

        (retry,) = await eventually(retried, what="two failed attempts")
        assert retry["last_error"].startswith("connection failed")
        server.start()
        try:
            (got,) = await eventually(server.areceived, what="the mail after the outage")
            await eventually(lambda: outbox_empty(redis_client), what="the mail deleted")
        finally:
            server.stop()
    assert "Answer to T-1042." in got.text
    assert await failures(redis_client) == []
    assert await redis_client.zcard(keys.MAIL_RETRY) == 0


async def test_a_refused_recipient_is_a_permanent_failure(redis_client, smtp):
    smtp.refuse["gone@example.com"] = "550 5.1.1 no such user"
    settings = settings_for(smtp.port)
    async with delivering(redis_client, settings):
        await MailOutbox(redis_client).enqueue(mail_for(to="gone@example.com", settings=settings))
        (failure,) = await eventually(lambda: failures(redis_client), what="the failure")
    assert failure["attempts"] == 1  # not retried
    assert failure["reason"].startswith("recipient refused: 550")
    assert failure["email"]["ticket_id"] == "T-1042"
    assert smtp.received() == []


async def test_a_temporary_refusal_is_retried_until_the_attempts_run_out(redis_client, smtp):
    smtp.refuse["full@example.com"] = "452 4.2.2 mailbox full"
    settings = settings_for(smtp.port, max_attempts=3)
    async with delivering(redis_client, settings):
        await MailOutbox(redis_client).enqueue(mail_for(to="full@example.com", settings=settings))
        (failure,) = await eventually(lambda: failures(redis_client), what="the failure")
    assert failure["attempts"] == 3
    assert failure["reason"].startswith("gave up after 3 attempts: recipient refused: 452")


async def test_several_instances_send_each_mail_once(redis_client, smtp):
    settings = settings_for(smtp.port)
    outbox = MailOutbox(redis_client)
    async with delivering(redis_client, settings, consumer="one"):
        async with delivering(redis_client, settings, consumer="two"):
            for n in range(12):
                await outbox.enqueue(mail_for(ticket_id=f"T-{1000 + n}", settings=settings))

            async def all_twelve():
                return len(smtp.received()) >= 12 and smtp.received()

            await eventually(all_twelve, what="twelve mails")
    subjects = sorted(m.message["Subject"] for m in smtp.received())
    assert len(subjects) == 12 and len(set(subjects)) == 12


async def test_a_mail_left_by_a_crashed_instance_is_taken_over(redis_client, smtp):
    settings = settings_for(smtp.port)
    outbox = MailOutbox(redis_client)
    await outbox.ensure_group()
    await outbox.enqueue(mail_for(settings=settings))
    assert len(await outbox.read("crashed", count=10, block_ms=10)) == 1  # read, never finished
    async with delivering(redis_client, settings, consumer="survivor", claim_idle_seconds=0.05):
        (got,) = await eventually(smtp.areceived, what="the abandoned mail")
        await eventually(lambda: outbox_empty(redis_client), what="the mail acknowledged")
    assert "Answer to T-1042." in got.text


def test_failures_are_classified_by_smtp_code():
    import aiosmtplib

    assert classify(aiosmtplib.SMTPResponseException(421, "busy"))[0] is True
    assert classify(aiosmtplib.SMTPResponseException(554, "no"))[0] is False
    assert classify(aiosmtplib.SMTPServerDisconnected("gone"))[0] is True
    assert classify(ConnectionRefusedError("refused"))[0] is True
    assert classify(aiosmtplib.SMTPNotSupported("no STARTTLS"))[0] is False
    assert classify(ValueError("header with a line break"))[0] is False


def test_backoff_doubles_up_to_the_cap():
    deliverer = MailDeliverer(None, settings_for(25, retry_base_seconds=2, retry_max_seconds=10))
    assert [deliverer.backoff(n) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]


# ---- the service runs it -----------------------------------------------------------------------


async def test_the_service_sends_mail_when_email_is_on(redis_db, smtp):
    config = from_mapping(
        {
            "secret": SECRET,
            "redis_url": redis_db,
            "rasa_url": "",
            "email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_starttls": False},
        }
    )
    async with running(config) as (app, _base):
        assert app.ctx.mailer is not None
        await app.ctx.resources.mail_outbox.enqueue(mail_for())
        (got,) = await eventually(smtp.areceived, timeout=10, what="the service's mail")
    assert got.rcpt_tos == ["ann@example.com"]
    assert app.ctx.mailer._task is None  # stopped with the server


async def test_without_an_smtp_host_the_service_sends_nothing(redis_db):
    config = from_mapping({"secret": SECRET, "redis_url": redis_db, "rasa_url": ""})
    async with running(config) as (app, _base):
        assert app.ctx.mailer is None
