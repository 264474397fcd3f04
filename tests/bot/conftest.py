"""A real Sanic server with the widget channel, a fake Rasa behind it, and the session's Redis."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any, Callable, List, Optional

import aiohttp
import pytest
import pytest_asyncio
from sanic import Sanic

from bot.channel.widget import WidgetInput, WidgetSettings
from handoff.core.outbox import Outbox
from handoff.core.store import HandoffStore
from tests.support.redis_server import async_client, free_port
from tests.support.sanic_server import serving as sanic_serving

SECRET = "widget-test-secret-that-is-long-enough-0123456789"
MAX_CHARS = 50
RATE_LIMIT = 5
SESSION_RATE_LIMIT = 8


class FakeBot:
    """Stands in for ``agent.handle_message``: records each UserMessage and answers it.

    The answer goes through ``message.output_channel`` exactly as Rasa's does, so the
    outbox path under test is the real one.
    """

    def __init__(self):
        self.received: List[Any] = []
        self.answer: Optional[Callable[[Any], Any]] = None
        self.fail = False
        self.silent = False

    def reset(self) -> None:
        self.received.clear()
        self.answer, self.fail, self.silent = None, False, False

    def texts(self) -> List[str]:
        return [m.text for m in self.received]

    async def handle(self, message) -> None:
        self.received.append(message)
        if self.fail:
            raise RuntimeError("the model exploded")
        if self.silent:
            return
        if self.answer is not None:
            await self.answer(message)
            return
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")


class FakeClock:
    """Rate-limit windows under the test's control (tokens keep the real time)."""

    def __init__(self, now: float = 1_700_000_010.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Client:
    """HTTP + WebSocket calls to the widget routes."""

    def __init__(self, base: str, session: aiohttp.ClientSession):
        self.base = base
        self.session = session

    async def call(self, method, path, token=None, body=None, data=None, headers=None):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.request(
            method, f"{self.base}/webhooks/widget{path}", headers=headers, json=body, data=data
        ) as resp:
            text = await resp.text()
            try:
                payload = json.loads(text)
            except ValueError:
                payload = text
            return resp.status, payload, resp.headers

    async def new_session(self, **body):
        status, payload, _ = await self.call("POST", "/session", body=body or None)
        assert status == 200, payload
        return payload

    async def say(self, token, text, **extra):
        status, payload, _ = await self.call(
            "POST", "/messages", token=token, body={"text": text, **extra}
        )
        return status, payload

    async def messages(self, token, after=None):
        path = "/messages" + (f"?after={after}" if after else "")
        status, payload, _ = await self.call("GET", path, token=token)
        assert status == 200, payload
        return payload["messages"]

    def ws(self, token=None, after=None):
        query = []
        if token is not None:
            query.append(f"token={token}")
        if after is not None:
            query.append(f"after={after}")
        url = self.base.replace("http", "ws") + "/webhooks/widget/ws?" + "&".join(query)
        return self.session.ws_connect(url, timeout=5, autoclose=False)


@asynccontextmanager
async def serving(channel: WidgetInput, on_new_message):
    """Serve the channel's blueprint under /webhooks/widget on a free port; yield (app, URL)."""
    app = Sanic(f"widget_test_{free_port()}")
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/widget")
    async with sanic_serving(app) as url:
        yield app, url


@pytest.fixture(scope="module")
def fake_bot():
    return FakeBot()


@pytest.fixture(scope="module")
def rate_clock():
    return FakeClock()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def widget(redis_url, fake_bot, rate_clock):
    """(app, base URL, channel): one server per module; Redis is emptied per test."""
    settings = WidgetSettings(
        redis_url=redis_url,
        secret=SECRET,
        max_message_chars=MAX_CHARS,
        rate_limit_per_minute=RATE_LIMIT,
        session_rate_limit_per_minute=SESSION_RATE_LIMIT,
    )
    channel = WidgetInput(settings, clock=rate_clock)
    async with serving(channel, fake_bot.handle) as (app, base):
        yield app, base, channel


@pytest.fixture
def bot(fake_bot, widget):
    fake_bot.reset()
    widget[0].ctx.agent = None
    return fake_bot


@pytest_asyncio.fixture(loop_scope="module")
async def redis_client(redis_db):
    async with async_client(redis_db) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module")
async def client(widget, redis_db, bot, rate_clock):
    rate_clock.advance(60)  # a fresh rate-limit window for every test
    async with aiohttp.ClientSession() as session:
        yield Client(widget[1], session)


@pytest.fixture
def outbox(redis_client):
    return Outbox(redis_client)


@pytest.fixture
def store(redis_client):
    return HandoffStore(redis_client)
