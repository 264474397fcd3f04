"""The optimistic lock of handoff.core.transactions on the test's Redis."""

from __future__ import annotations

import pytest

from handoff.core.errors import Busy, Conflict
from handoff.core.transactions import watched


async def test_a_change_meanwhile_makes_it_decide_again_on_fresh_data(redis_client):
    await redis_client.set("counter", "1")
    seen = []

    async def decide(pipe):
        value = int(await pipe.get("counter"))
        seen.append(value)
        if len(seen) == 1:
            await redis_client.set("counter", "5")  # another client, between read and EXEC
        return value + 1, lambda pipe: pipe.set("counter", str(value + 1))

    assert await watched(redis_client, "counter", decide, retries=3, busy="busy") == 6
    assert seen == [1, 5]
    assert await redis_client.get("counter") == "6"


async def test_a_key_that_never_settles_is_busy(redis_client):
    async def decide(pipe):
        await redis_client.incr("counter")  # changed under every attempt
        return None, lambda pipe: pipe.set("written", "1")

    with pytest.raises(Busy, match="changing too fast"):
        await watched(redis_client, "counter", decide, retries=3, busy="changing too fast")
    assert await redis_client.get("counter") == "3"
    assert await redis_client.get("written") is None


async def test_a_refusal_writes_nothing(redis_client):
    async def decide(pipe):
        raise Conflict("no")

    with pytest.raises(Conflict):
        await watched(redis_client, "counter", decide, retries=3, busy="busy")
    assert await redis_client.exists("counter") == 0
