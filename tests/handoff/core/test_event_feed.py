"""Console events: one subscription per process however many consoles, and an honest end."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack

import pytest

from handoff.core.event_feed import EventFeed, FeedLost
from handoff.core.redis_connection import async_client
from handoff.core.settings import from_mapping
from tests.support.redis_server import RedisProcess
from tests.support.waiting import eventually


async def subscribers(client) -> int:
    return len(await client.client_list(_type="pubsub"))


async def test_forty_consoles_share_one_subscription_on_a_small_pool_and_all_get_every_event():
    with RedisProcess() as server:
        client = async_client(
            from_mapping({"redis_url": server.url, "redis": {"max_connections": 4}})
        )
        feed = EventFeed(client, "events")
        try:
            async with AsyncExitStack() as stack:
                iterators = [await stack.enter_async_context(feed.listen()) for _ in range(40)]
                assert await subscribers(client) == 1
                for n in range(3):
                    await client.publish("events", json.dumps({"n": n}))
                for iterator in iterators:
                    assert [await iterator.__anext__() for _ in range(3)] == [
                        {"n": 0},
                        {"n": 1},
                        {"n": 2},
                    ]
            await eventually(lambda: _none_left(client), what="the subscription closed")
        finally:
            await client.close()
            await client.connection_pool.disconnect()


async def test_a_lost_subscription_ends_every_listener_and_the_next_one_subscribes_again():
    with RedisProcess() as server:
        client = async_client(from_mapping({"redis_url": server.url, "redis": {"retries": 1}}))
        feed = EventFeed(client, "events")
        try:
            async with feed.listen() as events:
                server.restart()
                with pytest.raises(FeedLost):
                    await asyncio.wait_for(events.__anext__(), timeout=30)
            async with feed.listen() as events:  # a reconnecting console
                await client.publish("events", json.dumps({"back": True}))
                assert await asyncio.wait_for(events.__anext__(), timeout=30) == {"back": True}
        finally:
            await client.close()
            await client.connection_pool.disconnect()


async def _none_left(client) -> bool:
    return await subscribers(client) == 0
