"""The widget channel over real HTTP and WebSocket sockets, on the session's real Redis."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager

import aiohttp
import jwt
import pytest

from bot.channel.widget import OutboxOutput, WidgetInput, WidgetSettings, meta_key, rate_key
from handoff.core import keys
from handoff.core.auth import Auth, Identity
from handoff.core.csr_desk import csat_request
from handoff.core.customer_tokens import AUDIENCE, CustomerTokenError, CustomerTokens
from handoff.core.errors import ConfigError
from handoff.core.lifecycle import State
from handoff.core.settings import HandoffConfig
from tests.support.waiting import eventually
from tests.support.widget import MAX_CHARS, RATE_LIMIT, SECRET, SESSION_RATE_LIMIT

# One server for the module; every test still gets an empty Redis database (`redis_db`).
# Plain checks are async too, so the module-wide loop mark applies to every test.
pytestmark = pytest.mark.asyncio(loop_scope="module")

CARD = "4242 4242 4242 4242"


def code(body):
    return body["error"]["code"]


async def next_frame(ws, timeout=5.0):
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def frames_until(ws, predicate, timeout=5.0):
    """Frames received until one matches ``predicate`` (inclusive)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        frame = await next_frame(ws, max(0.1, deadline - time.monotonic()))
        seen.append(frame)
        if predicate(frame):
            return seen


async def quiet(ws, seconds=0.3):
    """Whether nothing arrives for ``seconds``."""
    try:
        msg = await asyncio.wait_for(ws.receive(), seconds)
    except asyncio.TimeoutError:
        return True
    raise AssertionError(f"unexpected frame: {msg}")


@asynccontextmanager
async def socket(client, token, after=None):
    ws = await client.ws(token, after)
    try:
        yield ws
    finally:
        await ws.close()


async def escalated(store, conv_id, *, claimed_by=None):
    await store.escalate(conv_id, "request_human")
    if claimed_by:
        await store.claim(conv_id, claimed_by)


# ---- customer tokens -----------------------------------------------------------------------------


async def test_tokens_round_trip_and_expiry():
    tokens = CustomerTokens(SECRET, ttl_seconds=60)
    issued = tokens.issue("abc123")
    assert tokens.verify(issued.token) == "abc123"
    assert abs(issued.expires_at - (time.time() + 60)) < 5
    claims = jwt.decode(issued.token, SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["sub"] == "abc123" and claims["aud"] == "widget"

    old = CustomerTokens(SECRET, ttl_seconds=60, clock=lambda: time.time() - 3600)
    with pytest.raises(CustomerTokenError, match="expired"):
        tokens.verify(old.issue("abc123").token)


# The tokens below are built when pytest collects the module, long before this test runs in a
# full (and loaded) run, so "not expired yet" must hold for the whole run, not for a minute.
UNEXPIRED = time.time() + 24 * 3600


@pytest.mark.parametrize(
    "token,reason",
    ids=[
        "none",
        "empty",
        "not-jwt",
        "other-key",
        "other-audience",
        "no-audience",
        "bad-sub",
        "hs384",
    ],
    argvalues=[
        (None, "missing token"),
        ("", "missing token"),
        ("not.a.jwt", "invalid token"),
        (
            jwt.encode(
                {"sub": "c1", "aud": "widget", "exp": UNEXPIRED},
                "another-secret-" * 3,
                algorithm="HS256",
            ),
            "signature",
        ),
        (
            jwt.encode(
                {"sub": "c1", "aud": "console", "exp": UNEXPIRED}, SECRET, algorithm="HS256"
            ),
            "not a widget token",
        ),
        (
            jwt.encode({"sub": "c1", "exp": UNEXPIRED}, SECRET, algorithm="HS256"),
            "not a widget token",
        ),
        (
            jwt.encode(
                {"sub": "bad id with spaces", "aud": "widget", "exp": UNEXPIRED},
                SECRET,
                algorithm="HS256",
            ),
            "no valid conversation",
        ),
        (
            jwt.encode({"sub": "c1", "aud": "widget", "exp": UNEXPIRED}, SECRET, algorithm="HS384"),
            "invalid token",
        ),
    ],
)
async def test_tokens_refuse_bad_ones(token, reason):
    with pytest.raises(CustomerTokenError, match=reason) as info:
        CustomerTokens(SECRET).verify(token)
    assert info.value.code == "unauthorized"


async def test_tampered_token_is_refused():
    token = CustomerTokens(SECRET).issue("c1").token
    header, payload, signature = token.split(".")
    forged_payload = jwt.utils.base64url_encode(
        json.dumps({"sub": "c2", "aud": "widget", "exp": int(time.time()) + 60}).encode()
    ).decode()
    with pytest.raises(CustomerTokenError, match="signature"):
        CustomerTokens(SECRET).verify(f"{header}.{forged_payload}.{signature}")


async def test_csr_and_customer_tokens_never_pass_for_each_other(redis_client):
    auth = Auth(redis_client, SECRET)
    csr_token = auth.issue_token(Identity("alice", "csr", "Alice"))
    with pytest.raises(CustomerTokenError):
        CustomerTokens(SECRET).verify(csr_token)
    await auth.create_account("c1", "a-long-password", "csr")
    with pytest.raises(Exception, match="invalid token"):
        await auth.verify(CustomerTokens(SECRET).issue("c1").token)


# ---- settings ------------------------------------------------------------------------------------


async def test_settings_from_credentials():
    config = HandoffConfig(redis_url="redis://config:6379/0", secret=SECRET)
    settings = WidgetSettings.from_credentials(None, config, env={})
    assert settings.redis_url == "redis://config:6379/0" and settings.secret == SECRET
    assert (
        settings.token_ttl_seconds,
        settings.max_message_chars,
        settings.rate_limit_per_minute,
    ) == (7 * 86400, 2000, 20)
    assert (
        WidgetSettings.from_credentials(None, config, env={"REDIS_URL": "redis://env/1"}).redis_url
        == "redis://env/1"
    )
    settings = WidgetSettings.from_credentials(
        {
            "redis_url": "redis://creds/2",
            "max_message_chars": 500,
            "rate_limit_per_minute": 3,
            "token_ttl_seconds": 3600,
        },
        config,
        env={"REDIS_URL": "redis://env/1"},
    )
    assert (
        settings.redis_url,
        settings.max_message_chars,
        settings.rate_limit_per_minute,
        settings.token_ttl_seconds,
    ) == ("redis://creds/2", 500, 3, 3600)
    with pytest.raises(ConfigError, match="unknown credentials keys: max_chars"):
        WidgetSettings.from_credentials({"max_chars": 5}, config, env={})
    with pytest.raises(ConfigError, match="rate_limit_per_minute must be a positive integer"):
        WidgetSettings.from_credentials({"rate_limit_per_minute": 0}, config, env={})


async def test_rasa_loads_the_channel_from_credentials_without_touching_redis(monkeypatch):
    # What rasa.core.run does for a custom channel in credentials.yml (without importing
    # rasa.core.run, which loads TensorFlow).
    from rasa.shared.utils.common import class_from_module_path

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    channel = class_from_module_path("bot.channel.widget.WidgetInput").from_credentials(
        {"rate_limit_per_minute": 7}
    )
    assert isinstance(channel, WidgetInput) and channel.name() == "widget"
    assert channel.settings.rate_limit_per_minute == 7
    assert isinstance(channel.get_output_channel(), OutboxOutput)
    # Building the client and the outbox opened no connection: that waits for the first command.
    assert channel.redis.connection_pool._connections == []  # the BlockingConnectionPool's


# ---- sessions ------------------------------------------------------------------------------------


async def test_session_starts_a_conversation(client, widget, redis_client):
    body = await client.new_session(page_url="https://shop.example/cart", locale="en-US")
    conv_id = body["conversation_id"]
    assert len(conv_id) == 32 and int(conv_id, 16) >= 0
    assert CustomerTokens(SECRET).verify(body["token"]) == conv_id
    assert abs(body["expires_at"] - (time.time() + 7 * 86400)) < 10
    assert body["resumed"] is False
    assert await redis_client.zscore(keys.METRICS_STARTED, conv_id) is not None
    assert await redis_client.hgetall(meta_key(conv_id)) == {
        "page_url": "https://shop.example/cart",
        "locale": "en-US",
    }
    other = await client.new_session()
    assert other["conversation_id"] != conv_id


async def test_session_resumes_with_a_valid_token(client):
    first = await client.new_session()
    status, body, _ = await client.call("POST", "/session", token=first["token"])
    assert status == 200 and body["resumed"] is True
    assert body["conversation_id"] == first["conversation_id"]
    assert CustomerTokens(SECRET).verify(body["token"]) == first["conversation_id"]
    # A stale or forged token simply gets a new conversation.
    status, body, _ = await client.call("POST", "/session", token="forged")
    assert status == 200 and body["resumed"] is False
    assert body["conversation_id"] != first["conversation_id"]


async def test_session_validation_and_rate(client):
    status, body, _ = await client.call(
        "POST", "/session", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and code(body) == "invalid_json"
    status, body, _ = await client.call("POST", "/session", body={"page_url": 42})
    assert status == 400 and code(body) == "invalid_input"
    for _ in range(SESSION_RATE_LIMIT):  # refused requests above did not count
        await client.new_session()
    status, body, headers = await client.call("POST", "/session")
    assert status == 429 and code(body) == "rate_limited" and int(headers["Retry-After"]) > 0


# ---- messages over HTTP --------------------------------------------------------------------------


async def test_message_reply_comes_back_and_stays_in_the_outbox(client, bot):
    session = await client.new_session(page_url="https://shop.example/p/1", locale="en")
    status, body = await client.say(
        session["token"], "where is my order?", metadata={"locale": "de-DE", "evil": "x"}
    )
    assert status == 200
    [reply] = body["messages"]
    assert reply["sender"] == "bot" and reply["text"] == "echo: where is my order?"
    assert reply["id"] and isinstance(reply["timestamp"], float)

    [message] = bot.received
    assert message.sender_id == session["conversation_id"]
    assert message.input_channel == "widget"
    assert message.metadata == {"page_url": "https://shop.example/p/1", "locale": "de-DE"}
    assert isinstance(message.output_channel, OutboxOutput)

    assert await client.messages(session["token"]) == [reply]
    assert await client.messages(session["token"], after=reply["id"]) == []


async def test_catching_up_after_a_reload_loses_and_repeats_nothing(client, bot, outbox):
    token = (await client.new_session())["token"]
    conv_id = CustomerTokens(SECRET).verify(token)

    async def two_replies(message):
        await message.output_channel.send_text_message(message.sender_id, "one")
        await message.output_channel.send_text_with_buttons(
            message.sender_id, "two", [{"title": "Yes", "payload": "/affirm"}]
        )

    bot.answer = two_replies
    _, first = await client.say(token, "hi")
    seen = first["messages"][0]["id"]  # the page reloads after showing only the first reply
    _, second = await client.say(token, "anything else?")
    await outbox.append(conv_id, {"sender": "csr", "text": "a person writes", "agent": "Alice"})

    missed = await client.messages(token, after=seen)
    assert [m["text"] for m in missed] == ["two", "one", "two", "a person writes"]
    assert missed[0]["buttons"] == [{"title": "Yes", "payload": "/affirm"}]
    assert [m["id"] for m in missed[1:3]] == [m["id"] for m in second["messages"]]
    everything = await client.messages(token)
    assert [m["id"] for m in everything] == [seen] + [m["id"] for m in missed]
    assert len({m["id"] for m in everything}) == 5


async def test_get_messages_pages_by_one_hundred(client, outbox):
    token = (await client.new_session())["token"]
    conv_id = CustomerTokens(SECRET).verify(token)
    for i in range(105):
        await outbox.append(conv_id, {"sender": "bot", "text": f"m{i}"})
    status, page, _ = await client.call("GET", "/messages", token=token)
    assert len(page["messages"]) == 100 and page["more"] is True
    rest = await client.messages(token, after=page["messages"][-1]["id"])
    assert [m["text"] for m in rest] == [f"m{i}" for i in range(100, 105)]
    status, body, _ = await client.call("GET", "/messages?after=not-an-id", token=token)
    assert status == 400 and code(body) == "invalid_input"


async def test_message_limits(client, bot, rate_clock):
    token = (await client.new_session())["token"]
    status, body = await client.say(token, "   ")
    assert status == 400 and code(body) == "empty_text"
    status, body, _ = await client.call("POST", "/messages", token=token, body={})
    assert status == 400 and code(body) == "empty_text"
    status, body = await client.say(token, 42)
    assert status == 400 and code(body) == "invalid_input"
    status, body = await client.say(token, "x" * (MAX_CHARS + 1))
    assert status == 400 and code(body) == "text_too_long"
    assert str(MAX_CHARS) in body["error"]["message"]
    status, body = await client.say(token, "x" * MAX_CHARS)
    assert status == 200
    status, body, _ = await client.call(
        "POST",
        "/messages",
        token=token,
        data=b'{"text": ',
        headers={"Content-Type": "application/json"},
    )
    assert status == 400 and code(body) == "invalid_json"
    status, body, _ = await client.call("POST", "/messages", token=token, body=["hi"])
    assert status == 400 and code(body) == "invalid_json"

    status, body = await client.say(token, "hi", metadata="page")
    assert status == 400 and code(body) == "invalid_input"
    assert bot.texts() == ["x" * MAX_CHARS]

    for i in range(RATE_LIMIT - 1):
        status, body = await client.say(token, f"m{i}")
        assert status == 200
    status, body = await client.say(token, "one too many")
    assert status == 429 and code(body) == "rate_limited"
    assert len(bot.received) == RATE_LIMIT
    # Another conversation has its own budget; the next minute starts afresh.
    other = (await client.new_session())["token"]
    assert (await client.say(other, "hello"))[0] == 200
    rate_clock.advance(60)
    assert (await client.say(token, "later"))[0] == 200


async def test_control_characters_are_refused_and_any_language_passes(client, bot, rate_clock):
    token = (await client.new_session())["token"]
    for text in ("where is my order\x00", "refund \x9c please", "broken \udc00 half"):
        status, body = await client.say(token, text)
        assert status == 400 and code(body) == "invalid_text", text
        assert "U+" in body["error"]["message"]
    assert bot.texts() == []
    for text in ("¿Dónde está mi pedido? 📦", "我的订单在哪里", "thanks 👍🏽\nbye"):
        status, _ = await client.say(token, text)
        assert status == 200, text
    assert bot.texts() == ["¿Dónde está mi pedido? 📦", "我的订单在哪里", "thanks 👍🏽\nbye"]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_messages_need_a_valid_token(client, method):
    body = {"text": "hi"} if method == "POST" else None
    expired = CustomerTokens(SECRET, ttl_seconds=60, clock=lambda: time.time() - 120)
    token = (await client.new_session())["token"]
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    for bad in (
        None,
        "garbage",
        expired.issue("c1").token,
        tampered,
        CustomerTokens("another-secret-another-secret-1234").issue("c1").token,
    ):
        status, reply, _ = await client.call(method, "/messages", token=bad, body=body)
        assert status == 401 and code(reply) == "unauthorized", (bad, reply)
    status, reply, _ = await client.call(
        method, "/messages", body=body, headers={"Authorization": f"Basic {token}"}
    )
    assert status == 401


async def test_a_token_reaches_only_its_own_conversation(client, bot, outbox):
    a = await client.new_session()
    b = await client.new_session()
    await outbox.append(b["conversation_id"], {"sender": "csr", "text": "for B only"})
    # The request cannot name another conversation: ids in the body or query are ignored.
    status, _ = await client.say(
        a["token"], "hi", sender=b["conversation_id"], conversation_id=b["conversation_id"]
    )
    assert status == 200
    assert [m.sender_id for m in bot.received] == [a["conversation_id"]]
    status, body, _ = await client.call(
        "GET", f"/messages?conversation_id={b['conversation_id']}", token=a["token"]
    )
    assert [m["text"] for m in body["messages"]] == ["echo: hi"]
    assert [m["text"] for m in await client.messages(b["token"])] == ["for B only"]
    async with socket(client, a["token"]) as ws:
        assert (await next_frame(ws))["message"]["text"] == "echo: hi"
        await outbox.append(b["conversation_id"], {"sender": "csr", "text": "B again"})
        assert await quiet(ws)


async def test_bot_failure_is_a_clear_502(client, bot):
    token = (await client.new_session())["token"]
    bot.fail = True
    status, body = await client.say(token, "hi")
    assert status == 502 and code(body) == "bot_unavailable"


# ---- while a CSR has the conversation ------------------------------------------------------------


class FakeTracker:
    def __init__(self, intent):
        self.latest_message = type("Msg", (), {"intent": intent})()
        self.events = []

    def update(self, event):
        self.events.append(event)


class FakeAgent:
    """The parts of rasa.core.agent.Agent the channel reads."""

    def __init__(self, intent):
        self.tracker = FakeTracker(intent)
        self.saved = []
        agent = self

        class Processor:
            async def get_tracker(self, conv_id):
                return agent.tracker

            async def save_tracker(self, tracker):
                agent.saved.append(tracker)

        class LockStore:
            @asynccontextmanager
            async def lock(self, conv_id):
                yield

        self.processor, self.lock_store = Processor(), LockStore()


@pytest.mark.parametrize("csr", [None, "alice"])
async def test_messages_while_with_a_csr_reach_rasa_and_the_transcript(
    client, bot, widget, store, csr
):
    session = await client.new_session()
    conv_id, token = session["conversation_id"], session["token"]
    await escalated(store, conv_id, claimed_by=csr)
    widget[0].ctx.agent = FakeAgent({"name": "inform_payment", "confidence": 0.87})
    bot.silent = True  # a paused tracker predicts nothing

    status, body = await client.say(token, f"my card is {CARD}")
    assert status == 202 and body == {"messages": []}
    assert bot.texts() == [f"my card is {CARD}"]
    [entry] = [m for m in await store.transcript(conv_id) if m["sender"] == "customer"]
    assert entry["text"] == "my card is [card ending 4242]"
    assert (entry["intent"], entry["confidence"]) == ("inform_payment", 0.87)

    # Rasa down: the CSR still gets the message.
    bot.fail = True
    status, body = await client.say(token, "hello?")
    assert status == 202
    assert [m["text"] for m in await store.transcript(conv_id)][-1] == "hello?"


async def test_unknown_or_ended_handoff_counts_as_bot(client, bot, store):
    session = await client.new_session()
    status, body = await client.say(session["token"], "hi")
    assert status == 200 and body["messages"][0]["text"] == "echo: hi"
    await escalated(store, session["conversation_id"], claimed_by="alice")
    await store.close(session["conversation_id"], "solved", by="alice")
    status, body = await client.say(session["token"], "one more thing")
    assert status == 200 and body["messages"][0]["text"] == "echo: one more thing"
    assert "one more thing" not in [
        m["text"] for m in await store.transcript(session["conversation_id"])
    ]


async def test_leaving_the_queue(client, widget, store, outbox):
    session = await client.new_session()
    conv_id, token = session["conversation_id"], session["token"]
    status, body, _ = await client.call("POST", "/leave", token=token)
    assert status == 404 and code(body) == "conversation_not_found"
    await escalated(store, conv_id)
    agent = FakeAgent(None)
    widget[0].ctx.agent = agent
    status, body, _ = await client.call("POST", "/leave", token=token)
    assert status == 200 and body["state"] == "abandoned"
    assert body["messages"][0]["sender"] == "system"
    assert (await store.get(conv_id)).state is State.ABANDONED
    assert [type(e).__name__ for e in agent.tracker.events] == ["ConversationResumed"]
    assert agent.saved == [agent.tracker]
    assert [m["id"] for m in await client.messages(token)] == [body["messages"][0]["id"]]
    status, body, _ = await client.call("POST", "/leave", token=token)
    assert status == 409 and code(body) == "invalid_transition"


# ---- customer satisfaction -----------------------------------------------------------------------


async def closed_conversation(client, store, outbox):
    session = await client.new_session()
    conv_id = session["conversation_id"]
    await escalated(store, conv_id, claimed_by="alice")
    await store.close(conv_id, "solved", by="alice")
    await outbox.append(conv_id, csat_request())
    return conv_id, session["token"]


async def test_csat_button_payload_is_recorded_not_sent_to_rasa(client, bot, store, outbox):
    conv_id, token = await closed_conversation(client, store, outbox)
    payload = csat_request()["buttons"][3]["payload"]
    assert payload == '/csat_rating{"csat_score": 4}'
    status, body = await client.say(token, payload)
    assert status == 200
    [thanks] = body["messages"]
    assert thanks["sender"] == "bot" and thanks["kind"] == "csat_thanks"
    assert (await store.get(conv_id)).csat == 4
    assert bot.received == []
    assert (await client.messages(token))[-1] == thanks
    # A re-rating replaces the score; a bare digit is ordinary text once answered.
    await client.say(token, '/csat_rating{"csat_score": 2}')
    assert (await store.get(conv_id)).csat == 2
    status, body = await client.say(token, "3")
    assert status == 200 and bot.texts() == ["3"]
    assert (await store.get(conv_id)).csat == 2


async def test_csat_bare_digit_after_a_rating_request(client, bot, store, outbox):
    conv_id, token = await closed_conversation(client, store, outbox)
    status, body = await client.say(token, " 5 ")
    assert status == 200 and body["messages"][0]["kind"] == "csat_thanks"
    assert (await store.get(conv_id)).csat == 5 and bot.received == []


async def test_csat_refusals(client, bot, store):
    session = await client.new_session()
    status, body = await client.say(session["token"], '/csat_rating{"csat_score": 4}')
    assert status == 409 and code(body) == "cannot_rate"
    for bad in ('/csat_rating{"csat_score": 9}', "/csat_rating", '/csat_rating{"csat_score": '):
        status, body = await client.say(session["token"], bad)
        assert status == 400 and code(body) == "invalid_input", bad
    status, body = await client.say(session["token"], "4")  # no rating was requested
    assert status == 200 and bot.texts() == ["4"]


# ---- the output channel Rasa's HTTP API uses -----------------------------------------------------


async def test_output_channel_writes_every_kind_of_message(widget, outbox):
    channel = widget[2].get_output_channel()
    await channel.send_response(
        "c1",
        {
            "text": "pick one",
            "buttons": [
                {"title": "Track", "payload": "/track"},
                {"title": "Docs", "url": "https://x.example", "type": "web_url"},
            ],
        },
    )
    await channel.send_response("c1", {"image": "https://x.example/a.png"})
    await channel.send_response("c1", {"custom": {"type": "carousel", "items": [1, 2]}})
    await channel.send_response(
        "c1", {"text": "plain", "quick_replies": [{"title": "ok", "payload": "/affirm"}]}
    )
    entries = [m for _, m in await outbox.read_after("c1")]
    assert [m["sender"] for m in entries] == ["bot"] * 4
    assert entries[0]["buttons"] == [
        {"title": "Track", "payload": "/track"},
        {"title": "Docs", "payload": "", "url": "https://x.example"},
    ]
    assert entries[1]["image"] == "https://x.example/a.png"
    assert entries[2]["custom"] == {"type": "carousel", "items": [1, 2]}
    assert entries[3]["buttons"] == [{"title": "ok", "payload": "/affirm"}]
    assert all(isinstance(m["timestamp"], float) for m in entries)
    assert [e[0] for e in channel.entries] == [i for i, _ in await outbox.read_after("c1")]


# ---- the WebSocket -------------------------------------------------------------------------------


async def test_websocket_sends_backlog_then_live_messages(client, bot, outbox, redis_client):
    session = await client.new_session()
    conv_id, token = session["conversation_id"], session["token"]
    first = await outbox.append(conv_id, {"sender": "bot", "text": "seen already"})
    await outbox.append(conv_id, {"sender": "bot", "text": "missed 1"})
    await outbox.append(conv_id, {"sender": "system", "text": "missed 2"})

    async with socket(client, token, after=first) as ws:
        backlog = [await next_frame(ws), await next_frame(ws)]
        assert [f["message"]["text"] for f in backlog] == ["missed 1", "missed 2"]
        assert all(f["type"] == "message" and f["id"] for f in backlog)

        # The handoff service (another process) writes a CSR message: it arrives live.
        csr_id = await outbox.append(
            conv_id, {"sender": "csr", "text": "Hi, Alice here", "agent": "Alice"}
        )
        live = await next_frame(ws)
        assert live == {"type": "message", "id": csr_id, "message": live["message"]}
        assert live["message"]["agent"] == "Alice"

        # Typing notices come over pub/sub once the socket has subscribed.
        async def signalled():
            notice = {"type": "typing", "sender": "csr", "agent": "Alice"}
            return await outbox.signal(conv_id, notice)  # the number of subscribers reached

        await eventually(signalled, interval=0.05, what="the socket subscribing")
        typing = await next_frame(ws)
        assert typing["type"] == "typing" and typing["agent"] == "Alice"

        # A message from the socket is handled like the POST; the reply streams back.
        await ws.send_json({"type": "message", "text": "thanks!"})
        reply = await frames_until(ws, lambda f: f["type"] == "message")
        assert reply[-1]["message"]["text"] == "echo: thanks!"
        assert bot.received[0].sender_id == conv_id
        await ws.send_json({"type": "ack", "id": reply[-1]["id"]})
        assert await quiet(ws)

    # Reconnecting with the last id shown gets exactly what came after, once.
    await outbox.append(conv_id, {"sender": "csr", "text": "while you were away"})
    async with socket(client, token, after=reply[-1]["id"]) as ws:
        assert (await next_frame(ws))["message"]["text"] == "while you were away"
        assert await quiet(ws)
    async with socket(client, token) as ws:
        texts = [(await next_frame(ws))["message"]["text"] for _ in range(6)]
        assert texts == [
            "seen already",
            "missed 1",
            "missed 2",
            "Hi, Alice here",
            "echo: thanks!",
            "while you were away",
        ]
        assert await quiet(ws)

    # Once the client is gone the server lets go of its subscription too.
    async def unsubscribed():
        [(_, subscribers)] = await redis_client.pubsub_numsub(keys.signals(conv_id))
        return subscribers == 0

    await eventually(unsubscribed, interval=0.05, what="the server unsubscribing")


async def test_websocket_bad_frames_get_errors_and_the_socket_stays_open(client, bot):
    token = (await client.new_session())["token"]
    async with socket(client, token) as ws:
        await ws.send_str("{not json")
        assert (await next_frame(ws))["error"]["code"] == "invalid_json"
        await ws.send_json(["message"])
        assert (await next_frame(ws))["error"]["code"] == "invalid_json"
        await ws.send_json({"type": "shout", "text": "hi"})
        assert (await next_frame(ws))["error"]["code"] == "invalid_frame"
        await ws.send_bytes(b"\x00\x01")
        assert (await next_frame(ws))["error"]["code"] == "invalid_frame"
        await ws.send_json({"type": "message", "text": ""})
        assert (await next_frame(ws)) == {
            "type": "error",
            "error": {"code": "empty_text", "message": "`text` must not be empty"},
        }
        await ws.send_json({"type": "message", "text": "y" * (MAX_CHARS + 1)})
        assert (await next_frame(ws))["error"]["code"] == "text_too_long"
        for i in range(RATE_LIMIT):
            await ws.send_json({"type": "message", "text": f"m{i}"})
        await ws.send_json({"type": "message", "text": "too many"})
        frames = await frames_until(ws, lambda f: f["type"] == "error")
        assert frames[-1]["error"]["code"] == "rate_limited"
        await ws.send_json({"type": "ping"})
        frames = await frames_until(ws, lambda f: f["type"] == "pong")
        assert ws.closed is False
        assert bot.texts() == [f"m{i}" for i in range(RATE_LIMIT)]


@pytest.mark.parametrize("query", ["none", "garbage", "expired"])
async def test_websocket_refuses_bad_tokens(client, query):
    token = {
        "none": None,
        "garbage": "garbage",
        "expired": CustomerTokens(SECRET, clock=lambda: 0).issue("c1").token,
    }[query]
    ws = await client.ws(token)
    frame = await next_frame(ws)
    assert frame["type"] == "error" and frame["error"]["code"] == "unauthorized"
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 4401
    await ws.close()


async def test_websocket_refuses_a_bad_after(client):
    token = (await client.new_session())["token"]
    ws = await client.ws(token, after="yesterday")
    assert (await next_frame(ws))["error"]["code"] == "invalid_input"
    await asyncio.wait_for(ws.receive(), 5)
    assert ws.close_code == 4400
    await ws.close()


# ---- keys ----------------------------------------------------------------------------------------


async def test_widget_keys_are_namespaced_with_the_id_last():
    assert rate_key("messages", "c1", 7) == "widget:rate:messages:7:c1"
    assert meta_key("c1") == "widget:meta:c1"
