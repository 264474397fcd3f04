"""One pub/sub subscription per process, fanned out to every open console.

Each console WebSocket used to hold a pub/sub connection of its own; with the bounded pool
of :mod:`handoff.core.redis_connection` fifty open consoles would take every connection of
the process. The feed subscribes once, while at least one console listens, and copies each
event to every listener's queue.

Pub/sub is fire-and-forget: when the subscription's connection is lost every listener's
iterator raises, so its console reconnects and re-reads the queue, as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, Optional, Set

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from handoff.core.redis_connection import pubsub_messages

logger = logging.getLogger(__name__)

QUEUE_SIZE = 1000  # events a slow console may fall behind by before it is cut off


class FeedLost(RedisConnectionError):
    """The subscription ended (Redis went away, or the console fell too far behind)."""


class EventFeed:
    """The live events of one channel, for any number of listeners in this process.

    Args:
        redis: The process's client.
        channel: The pub/sub channel the events are published on.
    """

    def __init__(self, redis: Redis, channel: str):
        """Nothing subscribes until the first listener."""
        self._redis = redis
        self._channel = channel
        self._queues: Set[asyncio.Queue] = set()
        self._task: Optional[asyncio.Task] = None
        self._ready: Optional[asyncio.Future] = None

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[Dict[str, Any]]]:
        """Listen for the duration of the ``async with``; events published after entry arrive.

        Raises:
            redis.exceptions.ConnectionError: Redis is down (on entry, or later while iterating).
        """
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            if self._task is None or self._task.done():
                self._ready = asyncio.get_running_loop().create_future()
                self._task = asyncio.ensure_future(self._run(self._ready))
            await asyncio.shield(self._ready)
            yield _drain(queue)
        finally:
            self._queues.discard(queue)
            if not self._queues and self._task is not None:
                self._task.cancel()
                self._task = None

    async def _run(self, ready: asyncio.Future) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            ready.set_result(None)
            async for message in pubsub_messages(pubsub):
                if message.get("type") == "message":
                    self._publish(json.loads(message["data"]))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every listener learns the feed is gone
            logger.warning("live events: subscription lost: %s", exc)
            if not ready.done():
                ready.set_exception(exc)
            for queue in list(self._queues):
                _end(queue, FeedLost(str(exc)))
        finally:
            await pubsub.close()

    def _publish(self, event: Dict[str, Any]) -> None:
        for queue in list(self._queues):
            if queue.full():
                _end(queue, FeedLost("this console fell too far behind"))
            else:
                queue.put_nowait(event)


def _end(queue: asyncio.Queue, error: Exception) -> None:
    while not queue.empty():  # room for the error, even in a full queue
        queue.get_nowait()
    queue.put_nowait(error)


async def _drain(queue: asyncio.Queue) -> AsyncIterator[Dict[str, Any]]:
    while True:
        item = await queue.get()
        if isinstance(item, Exception):
            raise item
        yield item
