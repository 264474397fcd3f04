"""The composition root: one client, one decoding, the configured TTLs for every process."""

from __future__ import annotations

from dataclasses import replace

from handoff.core import keys
from handoff.core.resources import Resources
from handoff.core.settings import load_config

DAY = 86400


async def test_every_resource_shares_one_decoding_client_and_the_configured_ttls(redis_db):
    settings = replace(
        load_config(env={}), redis_url=redis_db, record_ttl_days=3, metrics_retention_days=5
    )
    resources = Resources(settings)
    try:
        assert resources.store is resources.store  # built once, then kept
        await resources.store.escalate("c-1", "request_human")
        await resources.outbox.append("c-1", {"sender": "bot", "text": "hi"})
        assert 0 < await resources.redis.ttl(keys.conversation("c-1")) <= 3 * DAY
        assert await resources.redis.hget(keys.conversation("c-1"), "state") == '"queued"'  # str
        first = resources.redis
    finally:
        await resources.close()
    # After close the next use builds a fresh client (a process may reconnect after a restart).
    try:
        assert resources.redis is not first
        assert (await resources.store.get("c-1")).state.value == "queued"
    finally:
        await resources.close()


async def test_a_given_client_is_used_and_left_open(redis_client, redis_db):
    resources = Resources(replace(load_config(env={}), redis_url=redis_db), redis=redis_client)
    assert resources.redis is redis_client
    await resources.close()
    assert await redis_client.ping()
