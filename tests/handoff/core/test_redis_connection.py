"""The one Redis builder against real servers: restarts, quiet pub/sub, Sentinel failover."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from handoff.core.errors import ConfigError
from handoff.core.http_errors import http_error
from handoff.core.redis_connection import (
    async_client,
    close_client,
    pubsub_messages,
    sync_client,
)
from handoff.core.settings import from_mapping, load_config
from tests.support.redis_server import RedisProcess
from tests.support.sentinel import sentinel_group
from tests.support.waiting import eventually


def settings(url: str, **redis_section):
    return from_mapping({"redis_url": url, "redis": redis_section})


async def test_a_restart_is_invisible_to_callers_once_redis_is_back():
    with RedisProcess() as server:
        client = async_client(settings(server.url, retries=1))
        try:
            await client.set("k", "before")
            server.kill()
            # While it is down the caller gets the error the apps answer 503 with ...
            with pytest.raises(RedisConnectionError) as down:
                await client.get("k")
            assert http_error(down.value).status == 503
            server.start()
            # ... and once it is back, not one error: broken pooled connections are retried.
            for _ in range(5):
                assert await client.set("k", "after")
            assert await client.get("k") == "after"  # str: decoded replies
        finally:
            await close_client(client)


def test_the_synchronous_client_for_rasas_stores_survives_a_restart_too():
    with RedisProcess() as server:
        client = sync_client(settings(server.url))
        client.set("k", "before")
        server.restart()
        assert client.set("k", "after") and client.get("k") == "after"
        assert isinstance(client.connection_pool, redis.BlockingConnectionPool)
        client.close()


async def test_the_pool_is_bounded_and_a_command_waits_for_a_free_connection():
    with RedisProcess() as server:
        client = async_client(settings(server.url, max_connections=2))
        try:
            assert isinstance(client.connection_pool, aioredis.BlockingConnectionPool)
            # Ten blocking reads at once through two connections: they take turns.
            reads = [client.blpop(f"list-{i}", timeout=0.1) for i in range(10)]
            assert await asyncio.gather(*reads) == [None] * 10
            assert len(client.connection_pool._connections) <= 2
        finally:
            await close_client(client)


async def test_a_quiet_subscription_outlives_the_socket_timeout():
    with RedisProcess() as server:
        client = async_client(settings(server.url, socket_timeout_seconds=0.3))
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe("news")
            received = []

            async def consume():
                async for message in pubsub_messages(pubsub):
                    received.append(message["data"])

            consumer = asyncio.create_task(consume())

            async def quiet_for_a_second():
                clients = await client.client_list(_type="pubsub")
                # Idle is counted in whole seconds: 2 means over a second, > 3 socket timeouts.
                return clients and int(clients[0]["idle"]) >= 2

            await eventually(quiet_for_a_second, timeout=10, interval=0.1)
            assert not consumer.done()
            await client.publish("news", "still here")
            await eventually(lambda: asyncio.sleep(0, received), what="the message")
            assert received == ["still here"]
            consumer.cancel()
        finally:
            await pubsub.close()
            await close_client(client)


async def test_sentinel_finds_the_primary_and_clients_follow_a_failover():
    with sentinel_group() as group:
        # With Sentinels the URL gives only the database (and a password if any).
        config = settings("redis://not-used.invalid:1/2", sentinels=group.addresses)
        client, sync = async_client(config), sync_client(config)
        try:
            await client.set("k", "1")
            with redis.Redis(port=group.primary.port, db=2) as direct:
                assert direct.get("k") == b"1"
            assert sync.get("k") == "1"

            group.failover()
            assert group.wait_for_new_primary(group.primary.port)[1] == group.replica.port
            group.wait_until_replica(group.primary)
            # The old primary refuses writes or dropped the connection: both are retried
            # on the primary the Sentinels name now, and the callers see no error.
            await client.set("k", "2")
            sync.set("j", "3")
            with redis.Redis(port=group.replica.port, db=2) as new_primary:
                assert new_primary.mget("k", "j") == [b"2", b"3"]
            assert await client.get("j") == "3" and sync.get("k") == "2"
        finally:
            await close_client(client)
            sync.close()


async def test_when_the_primary_dies_the_clients_move_to_the_promoted_replica():
    with sentinel_group() as group:
        config = settings("redis://not-used.invalid:1/0", sentinels=group.addresses)
        client, sync = async_client(config), sync_client(config)
        try:
            await client.set("k", "1")
            sync.get("k")  # both hold pooled connections to the primary now
            group.primary.kill()
            assert group.wait_for_new_primary(group.primary.port)[1] == group.replica.port
            await client.set("k", "2")  # broken connection: retried on the promoted replica
            sync.set("j", "3")
            assert await client.mget("k", "j") == ["2", "3"]
        finally:
            await close_client(client)
            sync.close()


def test_settings_come_from_the_file_and_the_environment(tmp_path):
    path = tmp_path / "h.yml"
    path.write_text("redis:\n  sentinels: ['10.0.0.1:26379']\n  retries: 2\n")
    config = load_config(path, env={"REDIS_MAX_CONNECTIONS": "7"})
    assert config.redis.sentinel_addresses() == [("10.0.0.1", 26379)]
    assert (config.redis.retries, config.redis.max_connections) == (2, 7)
    assert config.redis.sentinel_service == "storefront"
    env = {"REDIS_SENTINELS": "a:1, b:2", "REDIS_SENTINEL_SERVICE": "shop"}
    config = load_config(path, env=env)
    assert config.redis.sentinels == ("a:1", "b:2") and config.redis.sentinel_service == "shop"


@pytest.mark.parametrize(
    "section",
    [
        {"sentinels": ["no-port"]},
        {"max_connections": 0},
        {"socket_timeout_seconds": 0},
        {"retries": -1},
        {"sentinel_service": ""},
        {"pool_size": 3},
    ],
)
def test_bad_redis_settings_are_refused(section):
    with pytest.raises(ConfigError, match="redis"):
        from_mapping({"redis": section})
