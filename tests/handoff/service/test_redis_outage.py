"""The handoff service while its Redis is down: 503 with Retry-After, and fine once it is back."""

from __future__ import annotations

import aiohttp

from tests.support.handoff_api import Api, running, service_config, staff_tokens
from tests.support.redis_server import RedisProcess


async def test_a_redis_outage_answers_503_with_retry_after_then_the_service_recovers():
    # Append-only, synced at every write: the accounts are still there after the crash.
    durable = ["--appendonly", "yes", "--appendfsync", "always"]
    with RedisProcess(extra_args=durable) as server:
        config = service_config(server.url, redis={"retries": 1})
        async with running(config) as (app, base), aiohttp.ClientSession() as session:
            api = Api(base, session)
            token = (await staff_tokens(api, app.ctx.redis, "alice"))["alice"]
            status, _ = await api.call("GET", "/api/queue", token=token)
            assert status == 200
            server.kill()
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(f"{base}/api/queue", headers=headers) as resp:
                body = await resp.json()
                assert resp.status == 503 and body["error"]["code"] == "redis_unavailable"
                assert resp.headers["Retry-After"] == "2"
            server.start()
            # The same process, its pooled connections broken by the crash: no error.
            status, _ = await api.call("GET", "/api/queue", token=token)
            assert status == 200
