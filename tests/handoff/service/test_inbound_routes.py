"""The inbound email webhook over real HTTP: SendGrid and Mailgun posts, multipart and form."""

from __future__ import annotations

import json

import aiohttp
import pytest

from handoff.core.mail import reply_address
from handoff.core.settings import from_mapping
from tests.support.auth import SECRET
from tests.support.handoff_api import error_code, running

INBOUND = "inbound-secret-for-tests-0123456789"
ANN = "ann@example.com"
REPLY = """Thanks! Please send it to my office.

On Tue, 1 Dec 2026 at 10:00, Harbor & Pine Support <support@shop.example> wrote:
> It left our warehouse today.
"""


def config_for(redis_url, **email):
    email = {"inbound_secret": INBOUND, **email}
    return from_mapping({"secret": SECRET, "redis_url": redis_url, "rasa_url": "", "email": email})


@pytest.fixture
async def service(redis_db):
    async with running(config_for(redis_db)) as (app, base):
        async with aiohttp.ClientSession() as session:
            yield app, base, session


async def open_ticket(app, email=ANN):
    return await app.ctx.resources.tickets.open_by_csr(
        "alice", subject="Where is my parcel?", email=email
    )


def multipart(fields, attachment=True):
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value, content_type="text/plain; charset=utf-8")
    if attachment:
        form.add_field("attachment1", b"%PDF-1.4 receipt", filename="receipt.pdf")
    return form


async def post(service, data, key=INBOUND, **kwargs):
    _app, base, session = service
    params = {} if key is None else {"key": key}
    async with session.post(f"{base}/api/inbound/email", params=params, data=data, **kwargs) as r:
        return r.status, json.loads(await r.text())


def sendgrid(app, ticket_id, **overrides):
    to = reply_address(app.ctx.config.email, ticket_id)
    fields = {
        "from": f"Ann Example <{ANN}>",
        "to": f"Harbor & Pine Support <{to}>",
        "subject": f"Re: [{ticket_id}] Where is my parcel?",
        "text": REPLY,
        "html": "<p>Thanks!</p>",
        "envelope": json.dumps({"to": [to], "from": ANN}),
        "headers": "Received: by mx.sendgrid.net\n",
        "charsets": json.dumps({"text": "utf-8"}),
    }
    fields.update(overrides)
    return fields


async def thread_of(app, ticket_id):
    return await app.ctx.resources.tickets.thread(ticket_id)


async def test_a_sendgrid_multipart_post_adds_the_reply_to_its_ticket(service):
    app = service[0]
    ticket = await open_ticket(app)
    status, body = await post(service, multipart(sendgrid(app, ticket.id)))
    assert (status, body) == (200, {"ticket_id": ticket.id})
    last = (await thread_of(app, ticket.id))[-1]
    assert last["sender"] == "customer" and last["via"] == "email"
    assert last["text"] == "Thanks! Please send it to my office."  # the quote is gone


async def test_a_mailgun_urlencoded_post_uses_the_providers_stripped_text(service):
    app = service[0]
    ticket = await open_ticket(app)
    fields = {
        "sender": ANN,
        "from": f"Ann <{ANN}>",
        "recipient": reply_address(app.ctx.config.email, ticket.id),
        "subject": f"Re: [{ticket.id}] Where is my parcel?",
        "body-plain": REPLY,
        "stripped-text": "Thanks! (stripped by Mailgun)",
        "message-headers": json.dumps([["Received", "by mxa.mailgun.org"]]),
    }
    status, body = await post(service, fields)  # a dict: application/x-www-form-urlencoded
    assert (status, body) == (200, {"ticket_id": ticket.id})
    assert (await thread_of(app, ticket.id))[-1]["text"] == "Thanks! (stripped by Mailgun)"


async def test_the_subject_names_the_ticket_only_for_its_own_customer(service):
    app = service[0]
    ticket = await open_ticket(app)
    plain = {"to": "support@shop.example", "envelope": json.dumps({"to": ["support@shop.example"]})}
    status, body = await post(service, multipart(sendgrid(app, ticket.id, **plain)))
    assert (status, body) == (200, {"ticket_id": ticket.id})  # from the ticket's address
    stranger = {**plain, "from": "Mallory <mallory@example.com>"}
    status, body = await post(service, multipart(sendgrid(app, ticket.id, **stranger)))
    assert (status, body) == (200, {"ignored": "no_ticket"})
    texts = [m["text"] for m in await thread_of(app, ticket.id) if m["sender"] == "customer"]
    assert len(texts) == 1


async def test_mail_for_no_ticket_is_acknowledged_and_ignored(service):
    app = service[0]
    ticket = await open_ticket(app)
    forged = reply_address(app.ctx.config.email, ticket.id).replace(ticket.id, "T-9999")
    cases = [
        {"to": "support@shop.example", "subject": "Hello", "envelope": "{}"},
        {"to": forged, "subject": "Re: stuff", "envelope": json.dumps({"to": [forged]})},
        {"to": "support@shop.example", "subject": "Re: [T-9999] x", "envelope": "{}"},
    ]
    for overrides in cases:
        status, body = await post(service, multipart(sendgrid(app, ticket.id, **overrides)))
        assert (status, body) == (200, {"ignored": "no_ticket"}), overrides


async def test_automatic_and_empty_replies_are_ignored(service):
    app = service[0]
    ticket = await open_ticket(app)
    auto = sendgrid(app, ticket.id, headers="Auto-Submitted: auto-replied\n")
    assert await post(service, multipart(auto)) == (200, {"ignored": "automatic_reply"})
    empty = sendgrid(app, ticket.id, text="> only the quote\n")
    assert await post(service, multipart(empty)) == (200, {"ignored": "empty"})


async def test_the_key_is_required(service):
    app = service[0]
    ticket = await open_ticket(app)
    for key in (None, "", "wrong-key", INBOUND + "x"):
        status, body = await post(service, multipart(sendgrid(app, ticket.id)), key=key)
        assert status == 401 and error_code(body) == "invalid_inbound_key"
    assert [m for m in await thread_of(app, ticket.id) if m["sender"] == "customer"] == []


async def test_other_bodies_are_refused(service):
    status, body = await post(
        service, json.dumps({"text": "hi"}), headers={"Content-Type": "application/json"}
    )
    assert status == 415 and error_code(body) == "unsupported_media_type"


async def test_the_webhook_is_off_without_a_secret(redis_db):
    config = from_mapping({"secret": SECRET, "redis_url": redis_db, "rasa_url": ""})
    async with running(config) as (_app, base):
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/api/inbound/email?key=x", data={"a": "b"}) as resp:
                assert resp.status == 404
                assert error_code(await resp.json()) == "inbound_not_configured"
