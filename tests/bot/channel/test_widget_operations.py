"""The Rasa process's operations endpoints, served by the widget channel over real HTTP."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from rasa.core.agent import Agent

from bot.channel.widget import WidgetInput, WidgetSettings
from handoff.core import log_format
from handoff.core.settings import HandoffConfig
from tests.support.log_handlers import formatters_restored
from tests.support.prometheus import samples, value
from tests.support.redis_server import free_port
from tests.support.widget import SECRET, Client, FakeBot, serving

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def scrape(client: Client) -> str:
    status, text, headers = await client.call("GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return text


async def test_ready_needs_redis_and_a_loaded_model(client, widget):
    app = widget[0]
    status, body, _ = await client.call("GET", "/ready")
    assert (status, body) == (
        503,
        {"status": "not_ready", "checks": {"redis": "ok", "model": "down"}},
    )
    app.ctx.agent = Agent()  # Rasa's agent before a model is loaded (e.g. waiting for a pull)
    status, body, _ = await client.call("GET", "/ready")
    assert status == 503 and body["checks"]["model"] == "down"


async def test_messages_and_reply_latency_are_counted(client):
    before = await scrape(client)
    session = await client.new_session()
    status, _ = await client.say(session["token"], "hello")
    assert status == 200
    after = await scrape(client)
    for labels in (
        {"direction": "in", "sender": "customer"},
        {"direction": "out", "sender": "bot"},
    ):
        assert value(after, "storefront_messages_total", labels) >= (
            value(before, "storefront_messages_total", labels) + 1
        )
    assert value(after, "storefront_reply_latency_seconds_count") == (
        value(before, "storefront_reply_latency_seconds_count") + 1
    )
    assert "process_resident_memory_bytes" in samples(after)


async def test_error_answers_are_counted_by_status(client):
    before = await scrape(client)
    status, _ = await client.say("not-a-token", "hello")
    assert status == 401
    after = await scrape(client)
    labels = {"server": "widget", "status": "401"}
    assert value(after, "storefront_http_errors_total", labels) == (
        value(before, "storefront_http_errors_total", labels) + 1
    )


async def test_redis_down_is_not_ready_and_counted():
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    channel = WidgetInput(WidgetSettings(shared=HandoffConfig(redis_url=dead, secret=SECRET)))
    async with serving(channel, FakeBot().handle) as (_app, base):
        async with aiohttp.ClientSession() as session:
            client = Client(base, session)
            before = await scrape(client)
            status, body, _ = await client.call("GET", "/ready")
            assert (status, body["checks"]["redis"]) == (503, "down")
            status, _, _ = await client.call("POST", "/session")
            assert status == 503
            after = await scrape(client)
    labels = {"server": "widget", "error": "ConnectionError"}
    assert value(after, "storefront_redis_errors_total", labels) >= (
        value(before, "storefront_redis_errors_total", labels) + 2
    )


async def test_json_logs_once_rasa_serves(redis_url):
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    shared = HandoffConfig(redis_url=redis_url, secret=SECRET, log_format="json")
    try:
        with formatters_restored():
            async with serving(WidgetInput(WidgetSettings(shared=shared)), FakeBot().handle):
                assert isinstance(handler.formatter, log_format.JsonFormatter)
    finally:
        logging.getLogger().removeHandler(handler)
