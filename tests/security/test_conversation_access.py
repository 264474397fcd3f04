"""Conversation access (IDOR) on the real stack: a customer's widget token reads and writes its
own conversation and no other, over every widget route; conversation ids in bodies and query
strings are ignored; bad tokens are refused; a customer token opens nothing on the CSR API.

The widget's routes are read from the channel's blueprint and the CSR API's from the service's
router, so a new route is covered by the token checks without editing this file.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.request
import uuid

import jwt
import pytest
import websockets

from handoff.core.auth import Auth, Identity
from handoff.core.customer_tokens import CustomerTokens
from handoff.core.settings import from_mapping
from handoff.service.app import create_app
from handoff.service.routes import PUBLIC_PATHS
from tests.support.auth import SECRET
from tests.support.clients import WidgetCustomer, call, widget_messages
from tests.support.security import (
    stack_secret,
    ws_frames_for,
    ws_frames_until_closed,
    ws_open,
    ws_url,
)
from tests.support.waiting import wait_until

SOMEONE_ELSE = ("conversation_id", "sender", "sender_id", "recipient_id", "conv_id", "id")


def widget_routes():
    """(method, path under /webhooks/widget, websocket?) of every route of the channel."""
    from bot.channel.widget import WidgetInput, WidgetSettings

    channel = WidgetInput(WidgetSettings(shared=from_mapping({"secret": SECRET})))
    routes = set()
    for route in channel.blueprint(lambda message: None)._future_routes:
        path = "/" + re.sub(r"<(\w+):\w+>", r"sample-\1", route.uri.lstrip("/"))
        methods = route.methods or ["GET"]  # a WebSocket route is a GET upgrade
        routes |= {(m, path, bool(route.websocket)) for m in methods if m != "OPTIONS"}
    return sorted(routes)


# The widget's public routes: health, and /session, which starts a fresh conversation
# instead of refusing a bad token (tested below); readiness and the Prometheus scrape, for
# balancers and monitoring, which hold no conversation's data (docs/security.md).
# Every other route must refuse a request without a valid token: a new route that forgets to
# check one fails here until it is listed.
TOKEN_FREE = {
    ("GET", "/"),
    ("POST", "/session"),
    ("GET", "/openapi.yaml"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
}
HTTP_WITH_TOKEN = [(m, p) for m, p, ws in widget_routes() if not ws and (m, p) not in TOKEN_FREE]


def csr_api_routes():
    app = create_app(from_mapping({"secret": SECRET}))
    routes = set()
    for route in app.router.routes:
        path = "/" + re.sub(r"<(\w+):\w+>", r"sample-\1", route.path)
        websocket = getattr(route.ctx, "websocket", False)  # tested with a WebSocket client
        if path.startswith("/api/") and path not in PUBLIC_PATHS and not websocket:
            routes |= {(m, path) for m in route.methods if m not in ("HEAD", "OPTIONS")}
    return sorted(routes)


def others(conversation_id):
    """Every way a request could try to name another conversation."""
    return {key: conversation_id for key in SOMEONE_ELSE}


def query(conversation_id):
    return "?" + "&".join(f"{k}={conversation_id}" for k in SOMEONE_ELSE)


def ids(messages):
    return {m["id"] for m in messages}


# One pair for the module: new sessions are rate-limited per client address.
@pytest.fixture(scope="module")
def alice(stack):
    customer = WidgetCustomer(stack.rasa_url)
    customer.say("hello")
    return customer


@pytest.fixture(scope="module")
def bob(stack):
    customer = WidgetCustomer(stack.rasa_url)
    customer.say(f"my secret is {uuid.uuid4().hex}")
    return customer


def state(stack, customer, csr_token):
    status, details = call(
        "GET", f"{stack.handoff_url}/api/conversations/{customer.conversation_id}", token=csr_token
    )
    return details["state"] if status == 200 else status


def bad_tokens(stack, alice, bob):
    """Tokens that must open nothing: tampered, expired, foreign key, not a widget token."""
    secret = stack_secret(stack)
    header, payload, signature = alice.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = bob.conversation_id
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    expired = CustomerTokens(secret, ttl_seconds=60, clock=lambda: time.time() - 3600)
    return {
        "tampered": f"{header}.{forged}.{signature}",
        "expired": expired.issue(alice.conversation_id).token,
        "other-key": CustomerTokens("another-secret-" + "x" * 40).issue(bob.conversation_id).token,
        "unsigned": jwt.encode(claims, None, algorithm="none"),
        "csr-token": Auth(None, secret).issue_token(Identity("alice", "csr", "Alice")),
        "garbage": "not-a-token",
    }


# ---- ids in bodies and query strings are ignored -----------------------------------------------


def test_session_resume_is_the_tokens_conversation(stack, alice, bob):
    status, body = call(
        "POST",
        f"{stack.rasa_url}/webhooks/widget/session{query(bob.conversation_id)}",
        others(bob.conversation_id),
        alice.token,
    )
    assert status == 200, body
    assert body["conversation_id"] == alice.conversation_id and body["resumed"] is True
    # Naming Bob's conversation without his token starts a new one, never his.
    status, body = call(
        "POST",
        f"{stack.rasa_url}/webhooks/widget/session{query(bob.conversation_id)}",
        others(bob.conversation_id),
    )
    assert status == 200 and body["resumed"] is False
    assert body["conversation_id"] not in (alice.conversation_id, bob.conversation_id)


def test_posting_a_message_writes_only_the_tokens_conversation(stack, alice, bob, csr_token):
    bobs_before = widget_messages(stack.rasa_url, bob.token)
    text = f"this is alice {uuid.uuid4().hex}"
    status, body = call(
        "POST",
        f"{stack.rasa_url}/webhooks/widget/messages{query(bob.conversation_id)}",
        {"text": text, **others(bob.conversation_id)},
        alice.token,
    )
    assert status == 200, body
    alices = widget_messages(stack.rasa_url, alice.token)
    assert ids(body["messages"]) <= ids(alices)
    assert widget_messages(stack.rasa_url, bob.token) == bobs_before
    status, tracker = call(
        "GET",
        f"{stack.rasa_url}/conversations/{bob.conversation_id}/tracker?token={stack.rasa_token}",
    )
    assert status == 200 and text not in json.dumps(tracker)


def test_reading_messages_reads_only_the_tokens_conversation(stack, alice, bob):
    bobs = widget_messages(stack.rasa_url, bob.token)
    alices = widget_messages(stack.rasa_url, alice.token)
    assert bobs and alices
    for after in ("", f"&after={min(ids(bobs))}"):
        status, body = call(
            "GET",
            f"{stack.rasa_url}/webhooks/widget/messages{query(bob.conversation_id)}{after}",
            token=alice.token,
        )
        assert status == 200, body
        assert ids(body["messages"]) <= ids(alices)
        assert not ids(body["messages"]) & ids(bobs)


def test_leaving_the_queue_leaves_only_the_tokens_conversation(stack, alice, bob, csr_token):
    bob.say("I want to talk to a real person")
    wait_until(lambda: state(stack, bob, csr_token) == "queued", what="Bob queued")
    alice_was = state(stack, alice, csr_token)
    status, body = call(
        "POST",
        f"{stack.rasa_url}/webhooks/widget/leave{query(bob.conversation_id)}",
        others(bob.conversation_id),
        alice.token,
    )
    if alice_was == "queued":  # her own fallbacks may have queued her: she left her queue
        assert status == 200 and state(stack, alice, csr_token) == "abandoned", body
    else:
        assert status == 409, body  # her own conversation is not in the queue
    assert state(stack, bob, csr_token) == "queued"
    status, body = call("POST", f"{stack.rasa_url}/webhooks/widget/leave", {}, bob.token)
    assert status == 200 and body["state"] == "abandoned"


async def test_the_socket_serves_only_the_tokens_conversation(stack, alice, bob):
    bobs_before = widget_messages(stack.rasa_url, bob.token)
    url = ws_url(
        stack.rasa_url, "/webhooks/widget/ws", token=alice.token, **others(bob.conversation_id)
    )
    async with websockets.connect(url) as ws:
        backlog = await ws_frames_for(ws, 2)
        await ws.send(
            json.dumps({"type": "message", "text": "hi again", **others(bob.conversation_id)})
        )
        replies = await ws_frames_for(ws, 8)
    delivered = {f["id"] for f in backlog + replies if f["type"] == "message"}
    alices = ids(widget_messages(stack.rasa_url, alice.token))
    assert delivered and delivered <= alices
    assert any(f["type"] == "message" for f in replies)  # the bot answered, to Alice
    assert widget_messages(stack.rasa_url, bob.token) == bobs_before


def test_an_attachment_of_another_conversation_is_not_found(stack, alice, csr_token):
    if ("GET", "/attachments/sample-attachment_id") not in HTTP_WITH_TOKEN:
        pytest.skip("the widget has no attachment routes")
    # Files go to a person: Carol waits for one.
    carol = WidgetCustomer(stack.rasa_url)
    carol.say("I want to talk to a real person")
    wait_until(lambda: state(stack, carol, csr_token) == "queued", what="Carol queued")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    boundary = "sec-boundary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{stack.rasa_url}/webhooks/widget/attachments",
        data=form,
        method="POST",
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Bearer {carol.token}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        carols_file = json.loads(response.read())["attachment"]["id"]
    url = (
        f"{stack.rasa_url}/webhooks/widget/attachments/{carols_file}{query(carol.conversation_id)}"
    )
    own = urllib.request.Request(url, headers={"Authorization": f"Bearer {carol.token}"})
    with urllib.request.urlopen(own, timeout=30) as response:
        assert response.status == 200 and response.read() == png
    status, body = call("GET", url, token=alice.token)
    assert status == 404, body
    call("POST", f"{stack.rasa_url}/webhooks/widget/leave", {}, carol.token)


# ---- bad tokens ----------------------------------------------------------------------------------


def test_the_routes_under_test_are_found():
    assert ("POST", "/messages") in HTTP_WITH_TOKEN and ("GET", "/messages") in HTTP_WITH_TOKEN
    assert ("POST", "/leave") in HTTP_WITH_TOKEN
    assert any(ws for _, _, ws in widget_routes())
    assert ("GET", "/api/queue") in csr_api_routes()


@pytest.mark.parametrize(("method", "path"), HTTP_WITH_TOKEN)
def test_every_widget_route_refuses_a_bad_token_with_401(stack, alice, bob, method, path):
    url = f"{stack.rasa_url}/webhooks/widget{path}"
    body = None if method == "GET" else {"text": "hello"}
    for kind, token in [("missing", None), *bad_tokens(stack, alice, bob).items()]:
        status, answer = call(method, url, body, token)
        assert status == 401, (kind, answer)
        assert answer["error"]["code"] == "unauthorized", kind


def test_a_bad_token_on_session_starts_a_fresh_conversation(stack, alice, bob):
    for kind, token in bad_tokens(stack, alice, bob).items():
        status, body = call("POST", f"{stack.rasa_url}/webhooks/widget/session", {}, token)
        assert status == 200, (kind, body)
        assert body["resumed"] is False, kind
        assert body["conversation_id"] not in (alice.conversation_id, bob.conversation_id), kind


async def test_the_widget_socket_closes_on_a_bad_token(stack, alice, bob):
    for kind, token in [("missing", None), *bad_tokens(stack, alice, bob).items()]:
        query_args = {} if token is None else {"token": token}
        async with websockets.connect(
            ws_url(stack.rasa_url, "/webhooks/widget/ws", **query_args)
        ) as ws:
            frames, code = await ws_frames_until_closed(ws, timeout=10)
        assert code == 4401, kind
        assert [f["type"] for f in frames] == ["error"], kind
        assert frames[0]["error"]["code"] == "unauthorized", kind


@pytest.mark.parametrize(("method", "path"), csr_api_routes())
def test_a_customer_token_gets_401_on_the_csr_api(stack, alice, method, path):
    body = None if method in ("GET", "DELETE") else {}
    status, answer = call(method, f"{stack.handoff_url}{path}", body, alice.token)
    assert status == 401, answer


async def test_a_customer_token_cannot_open_the_console_socket(stack, alice):
    url = ws_url(stack.handoff_url, "/api/events", token=alice.token)
    assert await ws_open(url) == (401, None)


def test_tampered_and_expired_csr_tokens_get_401(stack, csr, csr_token):
    secret = stack_secret(stack)
    header, payload, signature = csr_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    expired = Auth(None, secret, token_ttl_seconds=60, clock=lambda: time.time() - 3600)
    for kind, token in {
        "tampered": f"{header}.{forged}.{signature}",
        "expired": expired.issue_token(Identity(csr, "csr", csr)),
        "unsigned": jwt.encode(claims, None, algorithm="none"),
        "other-key": Auth(None, "x" * 40).issue_token(Identity(csr, "admin", csr)),
    }.items():
        status, answer = call("GET", f"{stack.handoff_url}/api/metrics", token=token)
        assert status == 401, (kind, answer)
        status, answer = call("GET", f"{stack.handoff_url}/api/me", token=token)
        assert status == 401, (kind, answer)
