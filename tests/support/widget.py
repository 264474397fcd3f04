"""The website widget channel under test: its settings, a bot that echoes, an HTTP and
WebSocket client, and a Sanic server with the channel's routes."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any, Callable, List, Optional

import aiohttp
from sanic import Sanic

from bot.channel.widget import WidgetInput
from tests.support.redis_server import free_port
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
