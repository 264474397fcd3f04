"""The ticket inbox API over real sockets: Sanic server, real Redis, real SMTP server."""

from __future__ import annotations

import pytest
import pytest_asyncio

from handoff.core.outbox import Outbox
from handoff.core.resources import Resources
from handoff.core.tickets import TicketDesk
from tests.support.auth import SECRET
from tests.support.clocks import FakeClock
from tests.support.handoff_api import error_code, running, service_config, staff_tokens
from tests.support.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

DAY = 86400


def settings(redis_url, rasa_server, smtp_server):
    return service_config(
        redis_url,
        rasa_server,
        max_message_chars=200,
        email={
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_starttls": False,
            "from_address": "support@shop.example",
            "resume_page_url": "https://shop.example/help",
        },
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(redis_url, rasa_server, smtp_server):
    async with running(settings(redis_url, rasa_server, smtp_server)) as served:
        yield served


@pytest.fixture
def api(api, smtp_server):
    """The shared client (tests/handoff/service/conftest.py), with no mail received yet."""
    smtp_server.clear()
    return api


@pytest_asyncio.fixture(loop_scope="module")
async def tokens(api, redis_client):
    return await staff_tokens(api, redis_client, "alice", "bob", "root")


@pytest.fixture
def resources(redis_client, redis_url, rasa_server, smtp_server):
    """The bot's side (the action server's resources) on the test's Redis client."""
    return Resources(settings(redis_url, rasa_server, smtp_server), redis=redis_client)


async def left_out_of_hours(resources, conv_id="c1", text="Where is my parcel?"):
    await resources.store.escalate(
        conv_id,
        "request_human",
        context={"transcript": [{"sender": "customer", "text": text, "timestamp": 1.0}]},
    )
    return await resources.tickets.open_from_conversation(
        conv_id, "sam@example.com", reason="request_human"
    )


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/tickets"),
        ("POST", "/api/tickets"),
        ("GET", "/api/tickets/T-1001"),
        ("PATCH", "/api/tickets/T-1001"),
        ("POST", "/api/tickets/T-1001/notes"),
        ("POST", "/api/tickets/T-1001/replies"),
    ],
)
async def test_tickets_need_a_token(api, method, path):
    status, body = await api.call(method, path)
    assert status == 401 and error_code(body) == "unauthorized"


async def test_a_ticket_from_the_chat_is_answered_by_mail_and_in_the_chat(
    api, tokens, resources, redis_client, smtp_server
):
    # Each test starts on an empty database: give the service's mailers their group back.
    await resources.mail_outbox.ensure_group()
    ticket = await left_out_of_hours(resources)
    status, body = await api.call("GET", "/api/tickets", tokens["alice"])
    assert status == 200
    [listed] = body["tickets"]
    assert listed["id"] == ticket.id and listed["subject"] == "Where is my parcel?"
    assert listed["status"] == "open" and listed["source"] == "out_of_hours"
    assert set(listed["breached"]) == {"first_reply", "resolution"}
    assert body["sla"]["urgent"] == {"first_reply_hours": 1.0, "resolution_hours": 8.0}
    assert body["business_hours"]["timezone"] == "America/New_York"
    assert body["email_enabled"] is True

    status, details = await api.call("GET", f"/api/tickets/{ticket.id}", tokens["alice"])
    assert status == 200 and details["email"] == "sam@example.com"
    assert [m["sender"] for m in details["thread"]] == ["system"]
    assert details["transcript"][0]["text"] == "Where is my parcel?"
    assert details["notes"] == []

    status, sent = await api.call(
        "POST", f"/api/tickets/{ticket.id}/replies", tokens["alice"], {"text": "It ships today."}
    )
    assert status == 201, sent
    assert sent["emailed"] and sent["in_chat"] and sent["ticket"]["status"] == "pending_customer"
    assert sent["message"]["agent"] == "Alice"
    # The mail reached the SMTP server, with the link that reopens the chat.
    [mail] = await eventually(
        lambda: smtp_server.areceived(lambda m: "sam@example.com" in m.rcpt_tos),
        what="the reply mail",
    )
    assert "It ships today." in mail.text and "#resume=" in mail.text
    assert f"[{ticket.id}]" in mail.message["Subject"]
    # And the widget shows it when the customer comes back.
    [(_, shown)] = await Outbox(redis_client).read_after("c1")
    assert shown["text"] == "It ships today." and shown["sender"] == "csr"

    status, solved = await api.call(
        "PATCH", f"/api/tickets/{ticket.id}", tokens["alice"], {"status": "solved"}
    )
    assert status == 200 and solved["status"] == "solved" and solved["solved_at"]
    status, body = await api.call("GET", "/api/tickets?status=solved", tokens["alice"])
    assert [t["id"] for t in body["tickets"]] == [ticket.id]
    status, body = await api.call("GET", "/api/tickets?status=open", tokens["alice"])
    assert body["tickets"] == []


async def test_a_csr_opens_a_ticket_and_only_its_assignee_or_an_admin_works_on_it(api, tokens):
    status, ticket = await api.call(
        "POST",
        "/api/tickets",
        tokens["alice"],
        {
            "subject": "Follow up tomorrow when the courier answers",
            "priority": "high",
            "email": "sam@example.com",
            "note": "Courier ref 991",
        },
    )
    assert status == 201, ticket
    assert ticket["assignee"] == "alice" and ticket["source"] == "csr"
    assert ticket["priority"] == "high" and ticket["conversation_id"] is None
    path = f"/api/tickets/{ticket['id']}"

    # Bob neither sees nor changes it; an admin does both.
    status, body = await api.call("GET", "/api/tickets", tokens["bob"])
    assert body["tickets"] == []
    for method, sub, payload in (
        ("GET", "", None),
        ("PATCH", "", {"priority": "low"}),
        ("POST", "/notes", {"text": "mine?"}),
        ("POST", "/replies", {"text": "hello"}),
    ):
        status, body = await api.call(method, path + sub, tokens["bob"], payload)
        assert status == 403 and error_code(body) == "not_assignee", (method, sub)
    status, body = await api.call("GET", "/api/tickets?assignee=alice", tokens["root"])
    assert [t["id"] for t in body["tickets"]] == [ticket["id"]]

    status, note = await api.call("POST", path + "/notes", tokens["alice"], {"text": "Called."})
    assert status == 201 and note["author"] == "alice"
    status, details = await api.call("GET", path, tokens["root"])
    assert [n["text"] for n in details["notes"]] == ["Courier ref 991", "Called."]
    assert details["transcript"] == []

    status, moved = await api.call("PATCH", path, tokens["alice"], {"assignee": "bob"})
    assert status == 200 and moved["assignee"] == "bob"
    status, body = await api.call("GET", "/api/tickets", tokens["bob"])
    assert [t["id"] for t in body["tickets"]] == [ticket["id"]]
    status, free = await api.call("PATCH", path, tokens["bob"], {"assignee": None})
    assert status == 200 and free["assignee"] is None
    status, body = await api.call("GET", "/api/tickets?assignee=none", tokens["alice"])
    assert [t["id"] for t in body["tickets"]] == [ticket["id"]]


async def test_breached_tickets_are_flagged_and_filtered(api, tokens, redis_client, resources):
    # A ticket opened a month ago (through a desk whose clock says so) missed both targets.
    clock = FakeClock()
    late = TicketDesk(
        redis_client,
        resources.store,
        sla=resources.tickets.sla,
        mail_outbox=resources.mail_outbox,
        resume_links=resources.resume_links,
        secret=SECRET,
        clock=clock,
    )
    overdue = await late.open_by_csr("alice", subject="Old case", priority="urgent")
    status, fresh = await api.call("POST", "/api/tickets", tokens["alice"], {"subject": "New"})
    assert status == 201

    status, body = await api.call("GET", "/api/tickets?breached=true", tokens["alice"])
    [breached] = body["tickets"]
    assert breached["id"] == overdue.id
    assert breached["breached"] == {"first_reply": True, "resolution": True}
    status, body = await api.call("GET", "/api/tickets?breached=false", tokens["alice"])
    assert [t["id"] for t in body["tickets"]] == [fresh["id"]]
    status, body = await api.call("GET", "/api/tickets?limit=1", tokens["alice"])
    assert [t["id"] for t in body["tickets"]] == [fresh["id"]]


async def test_a_ticket_without_any_way_to_answer_is_a_conflict(api, tokens):
    status, ticket = await api.call("POST", "/api/tickets", tokens["alice"], {"subject": "Memo"})
    status, body = await api.call(
        "POST", f"/api/tickets/{ticket['id']}/replies", tokens["alice"], {"text": "hello"}
    )
    assert status == 409 and error_code(body) == "no_reply_channel"


@pytest.mark.parametrize(
    "method,path,payload,code",
    [
        ("GET", "/api/tickets?status=closed", None, "invalid_input"),
        ("GET", "/api/tickets?breached=maybe", None, "invalid_input"),
        ("GET", "/api/tickets?limit=0", None, "invalid_input"),
        ("POST", "/api/tickets", {}, "empty_text"),
        ("POST", "/api/tickets", {"subject": "x" * 201}, "text_too_long"),
        ("POST", "/api/tickets", {"subject": "x", "priority": "asap"}, "invalid_input"),
        ("POST", "/api/tickets", {"subject": "x", "email": "nope"}, "invalid_input"),
        ("POST", "/api/tickets", {"subject": "x", "email": 5}, "invalid_input"),
        ("POST", "/api/tickets", {"subject": "bad\u0007"}, "invalid_text"),
        ("PATCH", "{id}", {}, "invalid_input"),
        ("PATCH", "{id}", {"colour": "red"}, "invalid_input"),
        ("PATCH", "{id}", {"status": "closed"}, "invalid_input"),
        ("PATCH", "{id}", {"assignee": "nobody"}, "invalid_input"),
        ("PATCH", "{id}", {"priority": 3}, "invalid_input"),
        ("POST", "{id}/notes", {"text": ""}, "empty_text"),
        ("POST", "{id}/replies", {"text": "x" * 201}, "text_too_long"),
        ("GET", "/api/tickets/T%201", None, "invalid_input"),
    ],
)
async def test_bad_requests_are_400(api, tokens, method, path, payload, code):
    status, ticket = await api.call("POST", "/api/tickets", tokens["alice"], {"subject": "x"})
    path = path.replace("{id}", f"/api/tickets/{ticket['id']}/").rstrip("/")
    path = path.replace("//", "/")
    status, body = await api.call(method, path, tokens["alice"], payload)
    assert status == 400 and error_code(body) == code, body


async def test_unknown_tickets_are_404(api, tokens):
    for method, path, payload in (
        ("GET", "/api/tickets/T-4242", None),
        ("PATCH", "/api/tickets/T-4242", {"status": "open"}),
        ("POST", "/api/tickets/T-4242/notes", {"text": "x"}),
        ("POST", "/api/tickets/T-4242/replies", {"text": "x"}),
    ):
        status, body = await api.call(method, path, tokens["alice"], payload)
        assert status == 404 and error_code(body) == "ticket_not_found"
    status, body = await api.call(
        "POST", "/api/tickets", tokens["alice"], {"subject": "x", "conversation_id": "gone"}
    )
    assert status == 404 and error_code(body) == "conversation_not_found"


async def test_ticket_events_reach_the_console_socket(api, tokens):
    url = api.base.replace("http", "ws", 1) + "/api/events?token=" + tokens["alice"]
    async with api.session.ws_connect(url) as ws:
        assert (await ws.receive_json(timeout=2))["type"] == "hello"
        status, ticket = await api.call("POST", "/api/tickets", tokens["alice"], {"subject": "x"})
        event = await ws.receive_json(timeout=2)
        assert event["type"] == "ticket.opened" and event["ticket_id"] == ticket["id"]
        assert event["assignee"] == "alice" and event["status"] == "open"
