"""The delivery hub on a real Redis: exact catch-up when notifications are missed."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from handoff.core import keys
from handoff.core.delivery_hub import PAGE, DeliveryHub, HubClosed
from handoff.core.outbox import Outbox
from tests.support.waiting import eventually

HUB_CLIENT = "delivery-hub-test"


@asynccontextmanager
async def running_hub(redis_db, sweep_seconds=3600.0):
    """A hub on its own named client, as in another process; its sweep off unless asked."""
    client = aioredis.from_url(redis_db, decode_responses=True, client_name=HUB_CLIENT)
    hub = DeliveryHub(client, Outbox(client), sweep_seconds=sweep_seconds)
    try:
        yield hub
    finally:
        await hub.close()
        await client.close()
        await client.connection_pool.disconnect()


async def subscribed(redis_client, conv_id):
    [(_, count)] = await redis_client.pubsub_numsub(keys.outbox_appended(conv_id))
    return count == 1


async def raw_append(redis_client, conv_id, text):
    """What a writer that does not announce its appends does (an older release)."""
    body = json.dumps({"sender": "bot", "text": text, "timestamp": 1.0})
    return await redis_client.xadd(keys.outbox(conv_id), {"message": body})


async def texts(subscription, count):
    got = [await asyncio.wait_for(subscription.next(), 5) for _ in range(count)]
    return [d.entry[1]["text"] for d in got]


async def nothing_more(subscription):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(subscription.next(), 0.3)
    return True


async def test_backlog_then_live_entries_then_notices(redis_db, redis_client, outbox):
    first = await outbox.append("c", {"sender": "bot", "text": "seen"})
    await outbox.append("c", {"sender": "bot", "text": "missed"})
    async with running_hub(redis_db) as hub:
        async with hub.subscribe("c", first) as sub:
            assert await texts(sub, 1) == ["missed"]
            await eventually(lambda: subscribed(redis_client, "c"))
            await outbox.append("c", {"sender": "csr", "text": "live"})
            assert await texts(sub, 1) == ["live"]
            assert await outbox.signal("c", {"sender": "csr"}) == 1
            notice = await asyncio.wait_for(sub.next(), 5)
            assert notice.kind == "signal" and notice.notice == {"sender": "csr"}
            assert await nothing_more(sub)
        await eventually(lambda: _not(subscribed(redis_client, "c")))


async def _not(awaitable):
    return not await awaitable


async def test_a_dropped_pubsub_connection_is_rebuilt_and_catches_up(redis_db, redis_client):
    async with running_hub(redis_db) as hub:
        async with hub.subscribe("c", None) as sub:
            await eventually(lambda: subscribed(redis_client, "c"))
            await raw_append(redis_client, "c", "unannounced")
            assert await nothing_more(sub)  # no notification and no sweep: not read yet
            # Redis drops the hub's pub/sub connection (as a restart does): the new
            # subscription's confirmation has the hub read what it has not seen.
            assert await redis_client.client_kill_filter(_type="pubsub") == 1
            assert await texts(sub, 1) == ["unannounced"]
            await eventually(lambda: subscribed(redis_client, "c"))
            assert await nothing_more(sub)


async def test_the_sweep_and_the_delivery_channel_read_everything(redis_db, redis_client):
    async with running_hub(redis_db, sweep_seconds=0.2) as hub:
        async with hub.subscribe("c", None) as sub:
            await raw_append(redis_client, "c", "found by the sweep")
            assert await texts(sub, 1) == ["found by the sweep"]
    async with running_hub(redis_db) as hub:
        async with hub.subscribe("d", None) as sub:
            await eventually(lambda: subscribed(redis_client, "d"))
            await raw_append(redis_client, "d", "found on request")
            await redis_client.publish(keys.DELIVERY, "")
            assert await texts(sub, 1) == ["found on request"]


async def test_a_slow_socket_gets_everything_in_order_without_the_hub_reading_ahead(
    redis_db, outbox
):
    for i in range(3 * PAGE):
        await outbox.append("c", {"sender": "bot", "text": str(i)})
    async with running_hub(redis_db) as hub:
        async with hub.subscribe("c", None) as sub, hub.subscribe("c", None) as other:
            assert await texts(other, 3 * PAGE) == [str(i) for i in range(3 * PAGE)]
            assert sub.pending() <= 2 * PAGE  # bounded while its socket does not read
            assert await texts(sub, 3 * PAGE) == [str(i) for i in range(3 * PAGE)]
            assert await nothing_more(sub)


async def test_closing_the_hub_ends_its_subscriptions(redis_db):
    async with running_hub(redis_db) as hub:
        async with hub.subscribe("c", None) as sub:
            await hub.close()
            with pytest.raises(HubClosed):
                await sub.next()
