"""Two CSRs claiming the same conversation at the same moment: exactly one wins."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from handoff.core.errors import ClaimConflict
from handoff.core.store import HandoffStore

ROUNDS = 50


async def test_concurrent_claims_have_exactly_one_winner(redis_db):
    # Two clients with their own connection pools, like two service instances.
    clients = [aioredis.from_url(redis_db, decode_responses=True) for _ in range(2)]
    first, second = (HandoffStore(c) for c in clients)
    try:
        for round_no in range(ROUNDS):
            conv_id = f"race-{round_no}"
            await first.escalate(conv_id, "request_human")
            results = await asyncio.gather(
                first.claim(conv_id, "alice"), second.claim(conv_id, "bob"), return_exceptions=True
            )
            winners = [r for r in results if not isinstance(r, Exception)]
            losers = [r for r in results if isinstance(r, Exception)]
            assert len(winners) == 1, results
            assert len(losers) == 1 and isinstance(losers[0], ClaimConflict), results
            stored = await first.get(conv_id)
            assert stored.assigned_to == winners[0].assigned_to
        assert await first.queue() == []
        waits = (await first.metrics())["queue_wait_seconds"]["count"]
        assert waits == ROUNDS  # one wait sample per conversation: no double counting
    finally:
        for client in clients:
            await client.close()


async def test_many_csrs_one_conversation(redis_db):
    clients = [aioredis.from_url(redis_db, decode_responses=True) for _ in range(8)]
    stores = [HandoffStore(c) for c in clients]
    try:
        await stores[0].escalate("hot", "request_human")
        results = await asyncio.gather(
            *(s.claim("hot", f"csr{i}") for i, s in enumerate(stores)), return_exceptions=True
        )
        assert sum(not isinstance(r, Exception) for r in results) == 1
        assert all(isinstance(r, ClaimConflict) for r in results if isinstance(r, Exception))
    finally:
        for client in clients:
            await client.close()
