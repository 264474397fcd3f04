"""Readiness checks against real sockets: a Redis that answers, none, one that stays silent."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from handoff.core import process_metrics
from handoff.core.readiness import DOWN, OK, Readiness, redis_check
from tests.support.prometheus import value
from tests.support.redis_server import free_port


def redis_errors(error: str) -> float:
    body, _ = process_metrics.exposition()
    return value(body.decode(), "storefront_redis_errors_total", {"server": "test", "error": error})


def test_readiness_answer():
    assert Readiness({"redis": OK, "model": OK}).status == 200
    down = Readiness({"redis": OK, "model": DOWN})
    assert (down.status, down.body) == (
        503,
        {"status": "not_ready", "checks": {"redis": "ok", "model": "down"}},
    )


async def test_a_redis_that_answers(redis_client):
    assert await redis_check(redis_client, "test") == OK


async def test_no_redis_is_down_and_counted():
    client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    before = redis_errors("ConnectionError")
    try:
        assert await redis_check(client, "test") == DOWN
    finally:
        await client.close()
    assert redis_errors("ConnectionError") == before + 1


async def test_a_redis_that_never_answers_is_down_not_a_hang():
    # Accepts and stays silent (a hung or overloaded server): the check gives up on its own.
    async def silent(reader, writer):
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.from_url(f"redis://127.0.0.1:{port}/0")  # no socket timeout of its own
    before = redis_errors("TimeoutError")
    try:
        assert await redis_check(client, "test", timeout=0.5) == DOWN
    finally:
        await client.close()
        server.close()
    assert redis_errors("TimeoutError") == before + 1
