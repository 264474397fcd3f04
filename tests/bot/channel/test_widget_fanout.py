"""Many customer sockets on one channel process share a constant number of Redis connections.

Real WebSockets against a real channel (Sanic) and a real redis-server of this module,
which the restart test stops and starts again (with an fsynced append-only file, so
the outboxes survive it, as on a production Redis). Redis tells which connections are
the channel's: its URL names them (``client_name``).
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import AsyncIterator, Dict, Iterator, List

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.channel.widget import WidgetInput, WidgetSettings
from handoff.core import keys
from handoff.core.customer_tokens import CustomerTokens, new_conversation_id
from handoff.core.outbox import Outbox
from handoff.core.settings import HandoffConfig
from tests.support.redis_server import RedisProcess
from tests.support.waiting import eventually
from tests.support.widget import SECRET, FakeBot, serving

CHANNEL_CLIENT = "widget-fanout-channel"
MOST_CONNECTIONS = 3  # the hub's pub/sub and reader, and one spare for an HTTP call


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisProcess]:
    """Its own server, every write fsynced to the append-only file: a restart loses none."""
    with RedisProcess(extra_args=["--appendonly", "yes", "--appendfsync", "always"]) as server:
        yield server


@asynccontextmanager
async def channel_serving(redis_url: str, sweep_seconds: float = 3600.0):
    """The widget channel on a free port; its sweep is off so notifications must do the work."""
    shared = HandoffConfig(redis_url=f"{redis_url}?client_name={CHANNEL_CLIENT}", secret=SECRET)
    channel = WidgetInput(WidgetSettings(shared=shared))
    channel.sweep_seconds = sweep_seconds
    async with serving(channel, FakeBot().handle) as (_app, base):
        yield channel, base


@asynccontextmanager
async def admin_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """The test's own client (another process's, for the channel)."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.close()
        await client.connection_pool.disconnect()


async def append_to_all(writer: Outbox, conv_ids: List[str], text: str) -> None:
    await asyncio.gather(*[writer.append(c, {"sender": "bot", "text": text}) for c in conv_ids])


async def channel_connections(redis: aioredis.Redis) -> int:
    """How many Redis connections the channel process holds, as Redis counts them."""
    return sum(1 for client in await redis.client_list() if client.get("name") == CHANNEL_CLIENT)


class Customer:
    """One open widget socket; keeps every frame it receives."""

    def __init__(self, conv_id: str, ws: aiohttp.ClientWebSocketResponse):
        self.conv_id = conv_id
        self.ws = ws
        self.frames: List[Dict] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(msg.data))

    def message_ids(self) -> List[str]:
        return [f["id"] for f in self.frames if f["type"] == "message"]

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


@asynccontextmanager
async def customers(base: str, conv_ids: List[str], per_conversation: int = 1):
    """``per_conversation`` sockets (tabs) for each conversation, all open at once."""
    tokens = CustomerTokens(SECRET)
    url = base.replace("http", "ws") + "/webhooks/widget/ws?token="
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def connect(conv_id: str) -> Customer:
            ws = await session.ws_connect(url + tokens.issue(conv_id).token, autoclose=False)
            return Customer(conv_id, ws)

        opened = await asyncio.gather(
            *[connect(c) for c in conv_ids for _ in range(per_conversation)]
        )
        try:
            yield opened
        finally:
            await asyncio.gather(*[c.close() for c in opened])


async def all_subscribed(redis: aioredis.Redis, conv_ids: List[str]) -> bool:
    counts = await redis.pubsub_numsub(*[keys.outbox_appended(c) for c in conv_ids])
    return all(subscribers == 1 for _, subscribers in counts)


async def outbox_ids(redis: aioredis.Redis, conv_id: str) -> List[str]:
    return [entry_id for entry_id, _ in await redis.xrange(keys.outbox(conv_id))]


async def delivered_everything(redis: aioredis.Redis, crowd: List[Customer], each: int) -> bool:
    return all(len(c.message_ids()) >= each for c in crowd)


async def assert_exactly_the_outbox(redis: aioredis.Redis, crowd: List[Customer]) -> None:
    for customer in crowd:
        assert customer.message_ids() == await outbox_ids(redis, customer.conv_id)


async def test_two_hundred_sockets_share_a_constant_number_of_redis_connections(redis_server):
    conv_ids = [new_conversation_id() for _ in range(100)]
    async with admin_client(redis_server.url) as redis:
        writer = Outbox(redis)
        async with channel_serving(redis_server.url) as (channel, base):
            async with customers(base, conv_ids, per_conversation=2) as crowd:
                await eventually(lambda: all_subscribed(redis, conv_ids), timeout=30)
                assert await channel_connections(redis) <= MOST_CONNECTIONS

                # A burst: five messages for every conversation, from another client.
                for i in range(5):
                    await append_to_all(writer, conv_ids, f"m{i}")
                await eventually(
                    lambda: delivered_everything(redis, crowd, 5), timeout=30, interval=0.1
                )
                await assert_exactly_the_outbox(redis, crowd)
                assert await channel_connections(redis) <= MOST_CONNECTIONS

                # Typing reaches both tabs through the process's one subscription.
                assert await writer.signal(conv_ids[0], {"sender": "csr", "agent": "Ann"}) == 1

                async def both_tabs_typing():
                    tabs = [c for c in crowd if c.conv_id == conv_ids[0]]
                    return all(any(f["type"] == "typing" for f in c.frames) for c in tabs)

                await eventually(both_tabs_typing, timeout=10)

        # The channel's connections go back to Redis when it stops.
        async def channel_gone():
            return await channel_connections(redis) == 0

        await eventually(channel_gone, timeout=10)


async def test_a_redis_restart_mid_stream_loses_and_repeats_nothing(redis_server):
    conv_ids = [new_conversation_id() for _ in range(20)]
    async with channel_serving(redis_server.url) as (channel, base):
        async with customers(base, conv_ids) as crowd:
            async with admin_client(redis_server.url) as redis:
                await eventually(lambda: all_subscribed(redis, conv_ids), timeout=30)
                writer = Outbox(redis)
                for i in range(10):
                    await append_to_all(writer, conv_ids, f"before {i}")
            redis_server.stop()  # while the hub may still be reading
            redis_server.start()
            async with admin_client(redis_server.url) as redis:
                # Writes right after the restart, before the hub has subscribed again.
                writer = Outbox(redis)
                for i in range(10):
                    await append_to_all(writer, conv_ids, f"after {i}")
                await eventually(
                    lambda: delivered_everything(redis, crowd, 20), timeout=30, interval=0.1
                )
                await assert_exactly_the_outbox(redis, crowd)
                for customer in crowd:
                    texts = [
                        f["message"]["text"] for f in customer.frames if f["type"] == "message"
                    ]
                    assert texts == [f"before {i}" for i in range(10)] + [
                        f"after {i}" for i in range(10)
                    ]
                await eventually(lambda: all_subscribed(redis, conv_ids), timeout=30)
                assert await channel_connections(redis) <= MOST_CONNECTIONS
