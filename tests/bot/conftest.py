"""A real Sanic server with the widget channel, a fake Rasa behind it, and the session's Redis."""

from __future__ import annotations

import aiohttp
import pytest
import pytest_asyncio

from bot.channel.widget import WidgetInput, WidgetSettings
from handoff.core.settings import HandoffConfig
from handoff.core.store import HandoffStore
from tests.support.clocks import FakeClock
from tests.support.widget import (
    MAX_CHARS,
    RATE_LIMIT,
    SECRET,
    SESSION_RATE_LIMIT,
    Client,
    FakeBot,
    serving,
)


@pytest.fixture(scope="module")
def fake_bot():
    return FakeBot()


@pytest.fixture(scope="module")
def rate_clock():
    """Rate-limit windows under the test's control (tokens keep the real time)."""
    return FakeClock(1_700_000_010.0)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def widget(redis_url, fake_bot, rate_clock):
    """(app, base URL, channel): one server per module; Redis is emptied per test."""
    settings = WidgetSettings(
        shared=HandoffConfig(redis_url=redis_url, secret=SECRET),
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
async def client(widget, redis_db, bot, rate_clock):
    rate_clock.advance(60)  # a fresh rate-limit window for every test
    async with aiohttp.ClientSession() as session:
        yield Client(widget[1], session)


@pytest.fixture
def store(redis_client):
    return HandoffStore(redis_client)
