"""The one builder of Redis clients: every process, async or not, connects the same way.

Built only from redis-py's own parts (4.6): a bounded ``BlockingConnectionPool`` per
process, ``Retry`` with ``ExponentialBackoff`` on connection errors and timeouts (so a
command issued while Redis restarts or fails over waits and succeeds instead of
failing), ``health_check_interval`` (a ``PING`` before using a connection that sat
idle, which finds connections a failover broke), and ``Sentinel`` to find the primary
when ``redis.sentinels`` is set (:mod:`handoff.core.redis_settings`).

:func:`async_client` serves the handoff service, the action server and the widget
channel (through :class:`handoff.core.resources.Resources`); :func:`sync_client` serves
Rasa's own tracker and lock stores (``bot/stores``), which are synchronous.

A retried write may run twice when a connection broke after Redis applied it but before
the reply arrived; the writes that must not (claims, outbox appends) are guarded by
WATCH/MULTI or are idempotent on their ids.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Dict

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.backoff import ExponentialBackoff
from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from handoff.core.redis_settings import RedisSettings
from handoff.core.settings import HandoffConfig

RETRIED_ERRORS = (RedisConnectionError, RedisTimeoutError)  # MasterNotFoundError is one too
FIRST_BACKOFF_SECONDS = 0.05
# Pub/sub waits in slices: a blocking read without a timeout of its own would end in a
# socket timeout on a quiet channel (redis-py reads pub/sub with the socket timeout).
PUBSUB_SLICE_SECONDS = 1.0


class _AsyncBlockingSentinelPool(AsyncSentinelPool, aioredis.BlockingConnectionPool):
    """Sentinel's primary discovery with the bounded, waiting pool."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        """Close every connection, or with ``inuse_connections=False`` only the idle ones.

        Sentinel's pool asks for the idle ones when it learns of a new primary; the
        blocking pool would close those in use too, under commands in flight.
        """
        if inuse_connections:
            await super().disconnect()
            return
        idle = [conn for conn in self.pool._queue if conn is not None]  # asyncio.Queue's list
        await asyncio.gather(*(conn.disconnect() for conn in idle), return_exceptions=True)


class _BlockingSentinelPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """The same for synchronous clients (Rasa's stores)."""

    def disconnect(self, inuse_connections: bool = True) -> None:
        """Like the asynchronous pool's (the blocking pool takes no ``inuse_connections``)."""
        if inuse_connections:
            super().disconnect()
            return
        with self.pool.mutex:
            idle = [conn for conn in self.pool.queue if conn is not None]
        for conn in idle:
            conn.disconnect()


def async_client(config: HandoffConfig) -> aioredis.Redis:
    """An asyncio client with decoded (``str``) replies, direct or through Sentinel.

    Nothing connects yet: the first command does, on the loop of the process using it.
    """
    settings = config.redis
    options = _options(settings, AsyncRetry)
    if not settings.sentinels:
        pool = aioredis.BlockingConnectionPool.from_url(
            config.redis_url, decode_responses=True, **options
        )
        return aioredis.Redis(connection_pool=pool)
    sentinel = AsyncSentinel(
        settings.sentinel_addresses(), sentinel_kwargs=_sentinel_options(settings)
    )
    return sentinel.master_for(
        settings.sentinel_service,
        redis_class=aioredis.Redis,
        connection_pool_class=_AsyncBlockingSentinelPool,
        decode_responses=True,
        **_credentials(config.redis_url),
        **options,
    )


def sync_client(config: HandoffConfig, *, decode_responses: bool = True) -> redis.Redis:
    """A synchronous client built like :func:`async_client` (for Rasa's tracker and lock stores)."""
    settings = config.redis
    options = _options(settings, Retry)
    if not settings.sentinels:
        pool = redis.BlockingConnectionPool.from_url(
            config.redis_url, decode_responses=decode_responses, **options
        )
        return redis.Redis(connection_pool=pool)
    sentinel = Sentinel(settings.sentinel_addresses(), sentinel_kwargs=_sentinel_options(settings))
    return sentinel.master_for(
        settings.sentinel_service,
        redis_class=redis.Redis,
        connection_pool_class=_BlockingSentinelPool,
        decode_responses=decode_responses,
        **_credentials(config.redis_url),
        **options,
    )


async def close_client(client: aioredis.Redis) -> None:
    """Close a client of :func:`async_client`: its pool and, with Sentinel, the Sentinel clients."""
    await client.close()
    await client.connection_pool.disconnect()
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    for sentinel in getattr(manager, "sentinels", []):
        await sentinel.close()
        await sentinel.connection_pool.disconnect()


async def pubsub_messages(pubsub: aioredis.client.PubSub) -> AsyncIterator[Dict[str, Any]]:
    """The messages of a subscribed pub/sub, however long the channel stays quiet.

    Use it instead of ``pubsub.listen()``, which fails with a socket timeout after
    ``redis.socket_timeout_seconds`` without a message. A lost connection raises
    ``ConnectionError``: what was published meanwhile is gone, so the caller re-reads
    its source of truth before subscribing again.
    """
    while pubsub.subscribed:
        message = await pubsub.get_message(timeout=PUBSUB_SLICE_SECONDS)
        if message is not None:
            yield message


def _options(settings: RedisSettings, retry_class: type) -> Dict[str, Any]:
    """Pool and connection keywords shared by every client."""
    return {
        "max_connections": settings.max_connections,
        "timeout": settings.pool_timeout_seconds,  # the pool's wait for a free connection
        "socket_timeout": settings.socket_timeout_seconds,
        "socket_connect_timeout": settings.connect_timeout_seconds,
        "socket_keepalive": True,
        "health_check_interval": settings.health_check_interval_seconds,
        "retry": retry_class(
            ExponentialBackoff(cap=settings.retry_backoff_cap_seconds, base=FIRST_BACKOFF_SECONDS),
            settings.retries,
            supported_errors=RETRIED_ERRORS,
        ),
        "retry_on_error": list(RETRIED_ERRORS),
    }


def _sentinel_options(settings: RedisSettings) -> Dict[str, Any]:
    """How the Sentinels themselves are asked (short timeouts: another one can answer)."""
    return {
        "socket_timeout": settings.connect_timeout_seconds,
        "socket_connect_timeout": settings.connect_timeout_seconds,
    }


def _credentials(url: str) -> Dict[str, Any]:
    """Database and login of ``redis_url``; with Sentinel its host and port are not used."""
    parsed = parse_url(url)
    return {key: parsed[key] for key in ("db", "username", "password") if parsed.get(key)}
