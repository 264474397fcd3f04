"""The HTTP and WebSocket API over real sockets: Sanic server, real Redis, a real fake Rasa."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import pytest_asyncio
import yaml

from handoff.core import keys
from handoff.core.auth import Auth, Identity
from handoff.core.settings import from_mapping
from handoff.core.store import HandoffStore
from tests.support.auth import SECRET
from tests.support.handoff_api import (
    Api,
    create_staff,
    error_code,
    log_in,
    running,
    service_config,
)
from tests.support.redis_server import free_port

# One server for the module (starting a Sanic app costs ~0.3 s); every test still
# gets an empty Redis database through `redis_db`, and the app keeps no other state.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("bot-project")
    (root / "domain.yml").write_text('responses:\n  utter_greet:\n    - text: "Hi!"\n')
    return root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(redis_url, rasa_server, project):
    config = service_config(
        redis_url,
        rasa_server,
        rasa_timeout_seconds=2,
        project_dir=project,
        max_message_chars=200,
        max_request_bytes=4096,
        sla_seconds=45,
    )
    async with running(config) as served:
        yield served


@pytest_asyncio.fixture(loop_scope="module")
async def accounts(redis_client):
    await create_staff(redis_client, "alice", "bob", "root")


@pytest_asyncio.fixture(loop_scope="module")
async def tokens(api, accounts):
    return await log_in(api, "alice", "bob", "root")


@pytest.fixture
def bot(redis_client):
    """The bot's side: escalates straight into the store, as the handoff action does."""
    return HandoffStore(redis_client, priorities={"complaint": "urgent"})


# ---- public endpoints and authentication ---------------------------------------------------------


async def test_health_and_openapi_are_public(api):
    assert await api.call("GET", "/health") == (200, {"status": "ok", "redis": "ok"})
    status, text = await api.call("GET", "/openapi.yaml")
    assert status == 200 and yaml.safe_load(text)["openapi"].startswith("3.0")


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/queue"),
        ("GET", "/api/me"),
        ("POST", "/api/conversations/c1/claim"),
        ("GET", "/api/conversations/c1"),
        ("POST", "/api/conversations/c1/messages"),
        ("GET", "/api/metrics"),
        ("GET", "/api/canned-responses"),
        ("GET", "/api/events"),
    ],
)
async def test_api_needs_a_token(api, method, path):
    status, body = await api.call(method, path)
    assert status == 401 and error_code(body) == "unauthorized"
    status, body = await api.call(method, path, token="not-a-token")
    assert status == 401 and body["error"]["message"] == "invalid token"


async def test_login(api, accounts):
    status, body = await api.try_login("alice", "nope-nope")
    assert status == 401 and error_code(body) == "unauthorized"
    status, body = await api.call("POST", "/api/login", data=b"{not json")
    assert status == 400 and error_code(body) == "invalid_input"
    status, body = await api.call("POST", "/api/login", body=["alice"])
    assert status == 400
    status, body = await api.try_login("alice")
    assert status == 200 and body["token_type"] == "Bearer" and body["user"]["role"] == "csr"
    assert await api.call("GET", "/api/me", token=body["token"]) == (
        200,
        {"user": {"username": "alice", "role": "csr", "display_name": "Alice"}},
    )


async def test_login_lockout_is_429(api, accounts):
    for _ in range(5):
        status, _ = await api.try_login("bob", "wrong-pass")
        assert status == 401
    status, body = await api.try_login("bob")
    assert status == 429 and error_code(body) == "too_many_attempts"


# ---- queue and claims ----------------------------------------------------------------------------


async def test_queue(api, tokens, bot):
    await bot.escalate("calm", "request_human", context={"summary": "wants a person"})
    await bot.escalate("angry", "complaint")
    status, body = await api.call("GET", "/api/queue", token=tokens["alice"])
    assert status == 200 and body["sla_seconds"] == 45 and "open_now" in body["business_hours"]
    assert [(c["id"], c["position"], c["priority"]) for c in body["conversations"]] == [
        ("angry", 1, "urgent"),
        ("calm", 2, "normal"),
    ]
    assert body["conversations"][1]["context"]["summary"] == "wants a person"
    assert body["conversations"][0]["allowed_events"] == ["abandon", "claim", "close", "to_ticket"]


async def test_claim_race_over_http(api, tokens, bot, outbox):
    for round_no in range(10):
        conv_id = f"race-{round_no}"
        await bot.escalate(conv_id, "request_human")
        results = await asyncio.gather(
            api.call("POST", f"/api/conversations/{conv_id}/claim", token=tokens["alice"]),
            api.call("POST", f"/api/conversations/{conv_id}/claim", token=tokens["bob"]),
        )
        assert sorted(status for status, _ in results) == [200, 409], results
        winner = next(body for status, body in results if status == 200)
        loser = next(body for status, body in results if status == 409)
        assert winner["state"] == "assigned" and error_code(loser) == "claim_conflict"
        joined = [m["text"] for _, m in await outbox.read_after(conv_id)]
        assert len(joined) == 1 and "joined the chat" in joined[0]  # one join notice only


async def test_claim_errors(api, tokens, bot):
    status, body = await api.call("POST", "/api/conversations/ghost/claim", token=tokens["alice"])
    assert status == 404 and error_code(body) == "conversation_not_found"
    status, body = await api.call(
        "POST", "/api/conversations/bad%20id/claim", token=tokens["alice"]
    )
    assert status == 400
    await bot.escalate("c1", "request_human")
    await bot.claim("c1", "bob")
    await bot.release("c1", by="bob")
    status, body = await api.call("POST", "/api/conversations/c1/claim", token=tokens["alice"])
    assert status == 409 and error_code(body) == "invalid_transition"


# ---- chatting ------------------------------------------------------------------------------------


async def claimed(api, tokens, bot, conv_id="c1", csr="alice"):
    await bot.escalate(conv_id, "request_human")
    status, _ = await api.call("POST", f"/api/conversations/{conv_id}/claim", token=tokens[csr])
    assert status == 200


async def test_messages_reach_outbox_transcript_and_tracker(api, tokens, bot, outbox, fake_rasa):
    await claimed(api, tokens, bot)
    status, body = await api.call(
        "POST",
        "/api/conversations/c1/messages",
        token=tokens["alice"],
        body={
            "text": "Hi, I'm Alice. Let me look.",
            "buttons": [{"title": "Thanks", "payload": "/thank"}],
        },
    )
    assert status == 201 and body["message"]["agent"] == "Alice"
    entries = await outbox.read_after("c1")
    assert entries[-1][0] == body["id"]
    last = entries[-1][1]
    assert last["sender"] == "csr" and last["text"] == "Hi, I'm Alice. Let me look."
    assert last["buttons"] == [{"title": "Thanks", "payload": "/thank"}]
    assert [m["sender"] for m in await bot.transcript("c1")] == ["csr"]
    [call] = fake_rasa.calls
    assert call["path"] == "/conversations/c1/tracker/events"
    assert call["query"]["token"] == "rasa-token"
    assert call["json"][0]["event"] == "bot" and call["json"][0]["metadata"] == {"agent": "Alice"}
    status, detail = await api.call("GET", "/api/conversations/c1", token=tokens["bob"])
    assert status == 200 and detail["transcript"][0]["text"] == "Hi, I'm Alice. Let me look."
    assert detail["first_csr_reply_at"] is not None


@pytest.mark.parametrize(
    "payload,data,code",
    [
        (None, b"{broken", "invalid_input"),
        ({"text": ""}, None, "empty_text"),
        ({"text": "x" * 201}, None, "text_too_long"),
        ({"text": "refund \x9c approved"}, None, "invalid_text"),
        ({"text": "half a pair \ud83d"}, None, "invalid_text"),
        ({"text": 42}, None, "invalid_input"),
        ({"text": "hi", "buttons": "nope"}, None, "invalid_input"),
        ([1, 2], None, "invalid_input"),
        (None, None, "empty_text"),
    ],
)
async def test_bad_message_input_is_400(api, tokens, bot, outbox, payload, data, code):
    await claimed(api, tokens, bot)
    before = await outbox.read_after("c1")
    status, body = await api.call(
        "POST", "/api/conversations/c1/messages", token=tokens["alice"], body=payload, data=data
    )
    assert status == 400 and error_code(body) == code
    assert await outbox.read_after("c1") == before


async def test_only_the_assignee_writes(api, tokens, bot):
    await claimed(api, tokens, bot)
    status, body = await api.call(
        "POST", "/api/conversations/c1/messages", token=tokens["bob"], body={"text": "hi"}
    )
    assert status == 403 and error_code(body) == "not_assignee"
    await bot.escalate("queued", "request_human")
    status, body = await api.call(
        "POST", "/api/conversations/queued/messages", token=tokens["bob"], body={"text": "hi"}
    )
    assert status == 409


async def test_rasa_down_is_502_and_nothing_is_sent(api, tokens, bot, outbox, fake_rasa):
    await claimed(api, tokens, bot)
    before = await outbox.read_after("c1")
    fake_rasa.down = True
    status, body = await api.call(
        "POST", "/api/conversations/c1/messages", token=tokens["alice"], body={"text": "hello?"}
    )
    assert status == 502 and error_code(body) == "upstream_error"
    assert await outbox.read_after("c1") == before and await bot.transcript("c1") == []


async def test_typing_and_notes(api, tokens, bot, redis_client):
    await claimed(api, tokens, bot)
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.signals("c1"))
    typing = await api.call("POST", "/api/conversations/c1/typing", token=tokens["alice"])
    assert typing == (200, {"ok": True})
    notice = None
    for _ in range(20):
        notice = notice or await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
    assert json.loads(notice["data"]) == {"type": "typing", "sender": "csr", "agent": "Alice"}
    await pubsub.close()
    status, _ = await api.call("POST", "/api/conversations/c1/typing", token=tokens["bob"])
    assert status == 403
    status, note = await api.call(
        "POST",
        "/api/conversations/c1/notes",
        token=tokens["bob"],
        body={"text": "Customer called yesterday too"},
    )
    assert status == 201 and note["author"] == "bob"
    _, detail = await api.call("GET", "/api/conversations/c1", token=tokens["alice"])
    assert [n["text"] for n in detail["notes"]] == ["Customer called yesterday too"]


async def test_transfer(api, tokens, bot, outbox):
    await claimed(api, tokens, bot)
    status, body = await api.call(
        "POST", "/api/conversations/c1/transfer", token=tokens["alice"], body={"to": "nobody"}
    )
    assert status == 400
    status, body = await api.call(
        "POST", "/api/conversations/c1/transfer", token=tokens["bob"], body={"to": "bob"}
    )
    assert status == 403
    status, body = await api.call(
        "POST", "/api/conversations/c1/transfer", token=tokens["alice"], body={"to": "bob"}
    )
    assert status == 200 and body["assigned_to"] == "bob"
    assert (await outbox.read_after("c1"))[-1][1]["text"] == "You're now chatting with Bob."
    status, _ = await api.call(
        "POST", "/api/conversations/c1/messages", token=tokens["alice"], body={"text": "still here"}
    )
    assert status == 403
    status, body = await api.call(
        "POST", "/api/conversations/c1/transfer", token=tokens["root"], body={"to": "alice"}
    )
    assert status == 200 and body["assigned_to"] == "alice"  # admins may reassign


async def test_release_resumes_the_bot_which_greets_back(api, tokens, bot, outbox, fake_rasa):
    await claimed(api, tokens, bot)
    status, body = await api.call("POST", "/api/conversations/c1/release", token=tokens["alice"])
    assert status == 200 and body["conversation"]["state"] == "bot" and body["bot_greeted"]
    assert fake_rasa.paths() == [
        "/conversations/c1/tracker/events",
        "/conversations/c1/execute",
        "/conversations/c1/tracker/events",
    ]
    assert fake_rasa.calls[2]["json"] == [{"event": "action", "name": "action_listen"}]
    assert fake_rasa.calls[0]["json"][0]["event"] == "resume"
    assert fake_rasa.calls[1]["json"] == {"name": "action_handback"}
    last_two = [m for _, m in await outbox.read_after("c1")][-2:]
    assert last_two[0]["sender"] == "system" and "handed you back" in last_two[0]["text"]
    assert last_two[1] == {**last_two[1], "sender": "bot", "text": "Hi again! How can I help?"}
    status, body = await api.call("POST", "/api/conversations/c1/release", token=tokens["alice"])
    assert status == 409


async def test_close_asks_whether_that_solved_it(api, tokens, bot, outbox, fake_rasa):
    await claimed(api, tokens, bot)
    status, body = await api.call(
        "POST", "/api/conversations/c1/close", token=tokens["alice"], body={}
    )
    assert status == 400
    status, body = await api.call(
        "POST",
        "/api/conversations/c1/close",
        token=tokens["alice"],
        body={"resolution": "order_located"},
    )
    assert status == 200 and body["state"] == "closed" and body["resolution"] == "order_located"
    assert fake_rasa.calls[-1]["json"][0]["event"] == "resume"
    # "Did that solve it?" first; the rating follows the answer (handoff/core/followup.py).
    question = (await outbox.read_after("c1"))[-1][1]
    assert question["kind"] == "followup_request"
    assert [b["title"] for b in question["buttons"]] == ["Yes", "No"]
    status, _ = await api.call(
        "POST", "/api/conversations/c1/close", token=tokens["alice"], body={"resolution": "again"}
    )
    assert status == 409


# ---- admin, canned responses, errors -------------------------------------------------------


async def test_metrics_is_admin_only(api, tokens, bot):
    await bot.note_conversation_started("x")
    status, body = await api.call("GET", "/api/metrics", token=tokens["alice"])
    assert status == 403 and error_code(body) == "forbidden"
    status, body = await api.call("GET", "/api/metrics", token=tokens["root"])
    assert status == 200 and body["conversations"] == 1 and body["containment_rate"] == 1.0
    status, body = await api.call(
        "GET", "/api/metrics?since=2024-01-01T00:00:00Z", token=tokens["root"]
    )
    assert status == 200 and body["since"] == 1704067200.0
    status, body = await api.call("GET", "/api/metrics?since=yesterday", token=tokens["root"])
    assert status == 400


async def test_canned_responses(api, tokens):
    status, body = await api.call("GET", "/api/canned-responses", token=tokens["alice"])
    assert status == 200 and body["responses"] == [
        {"name": "utter_greet", "text": "Hi!", "category": "bot", "source": "domain.yml"}
    ]


async def test_error_shapes(api, tokens):
    status, body = await api.call("GET", "/nowhere")
    assert status == 404 and error_code(body) == "not_found"
    status, body = await api.call("DELETE", "/health")
    assert status == 405 and error_code(body) == "method_not_allowed"
    status, body = await api.call(
        "POST", "/api/conversations/c1/notes", token=tokens["alice"], body={"text": "x" * 10_000}
    )
    assert status == 413 and error_code(body) == "payload_too_large"
    status, body = await api.call("GET", "/api/conversations/ghost", token=tokens["alice"])
    assert status == 404


# ---- live events ---------------------------------------------------------------------------------


async def test_websocket_streams_live_events(api, service, tokens, bot):
    url = service[1].replace("http", "ws") + "/api/events?token=" + tokens["alice"]
    async with api.session.ws_connect(url) as ws:
        hello = await ws.receive_json(timeout=2)
        assert hello == {
            "type": "hello",
            "user": {"username": "alice", "role": "csr", "display_name": "Alice"},
        }
        await bot.escalate("c9", "request_human")
        event = await ws.receive_json(timeout=2)
        assert event["type"] == "conversation.escalated" and event["conversation_id"] == "c9"
        assert event["queue_changed"]
        await bot.record_customer_message("c9", "hello? anyone?")
        event = await ws.receive_json(timeout=2)
        assert event["type"] == "customer.message" and event["message"]["text"] == "hello? anyone?"
        await ws.send_json({"type": "ping"})
        assert await ws.receive_json(timeout=2) == {"type": "pong"}


async def test_websocket_refuses_bad_tokens(api, service):
    url = service[1].replace("http", "ws") + "/api/events?token=forged"
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        async with api.session.ws_connect(url):
            pass
    assert info.value.status == 401


# ---- Redis down ----------------------------------------------------------------------------------


async def test_redis_down_is_503_not_500():
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    token = Auth(None, SECRET).issue_token(Identity("alice", "csr", "Alice"))  # no Redis needed
    config = from_mapping({"redis_url": dead, "secret": SECRET, "rasa_url": ""})
    async with running(config) as (_, base):
        async with aiohttp.ClientSession() as session:
            api = Api(base, session)
            status, body = await api.call("GET", "/health")
            assert status == 503 and body["redis"] == "down"
            status, body = await api.call("GET", "/api/queue", token=token)
            assert status == 503 and error_code(body) == "redis_unavailable"
            status, body = await api.try_login("alice")
            assert status == 503
