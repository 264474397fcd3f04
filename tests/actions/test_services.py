"""The action server's collaborators honour the operator's settings like every other process."""

from __future__ import annotations

from dataclasses import replace

import redis.asyncio as aioredis
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHumanHandoff
from handoff.core import keys
from tests.support.trackers import tracker

DAY = 86400


async def test_an_escalation_from_the_action_server_keeps_the_configured_record_ttl(
    services, domain
):
    # Before the composition root, the action server built its own HandoffStore without
    # record_ttl_days, so every escalation reset a conversation's TTL to 30 days.
    services.handoff_config = replace(services.handoff_config, record_ttl_days=2)
    await ActionHumanHandoff(services).run(
        CollectingDispatcher(),
        tracker(text="a person please", intent="request_human", sender_id="ttl-1"),
        domain,
    )
    client = aioredis.from_url(services.handoff_config.redis_url)
    try:
        ttl = await client.ttl(keys.conversation("ttl-1"))
        transcript_ttl = await client.ttl(keys.transcript("ttl-1"))
    finally:
        await client.close()
        await client.connection_pool.disconnect()
    assert 0 < ttl <= 2 * DAY
    assert 0 < transcript_ttl <= 2 * DAY
