"""The optimistic lock on one Redis key: WATCH, read and decide, MULTI, write, retry.

Every read-check-write of one record (a conversation, a ticket, a follow-up, a
conversation's attachments) runs through :func:`watched`: when another client changes
the key between the read and the ``EXEC``, the transaction is dropped and the decision
is made again on fresh data, up to ``retries`` times.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Tuple, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from handoff.core.errors import Busy

T = TypeVar("T")
Writer = Callable[[Pipeline], None]


async def watched(
    redis: Redis,
    key: str,
    decide: Callable[[Pipeline], Awaitable[Tuple[T, Writer]]],
    *,
    retries: int,
    busy: str,
) -> T:
    """Run ``decide`` with ``key`` watched, then its writes in one transaction.

    Args:
        redis: An asyncio Redis client.
        key: The key whose change makes the decision stale.
        decide: Reads through the pipeline (commands run at once while it watches), may
            raise to refuse, and returns the result and a function queueing the writes.
        retries: How many times to decide again before giving up.
        busy: The message of the :class:`~handoff.core.errors.Busy` raised then.

    Raises:
        Busy: ``key`` changed under every one of the ``retries`` attempts.
    """
    async with redis.pipeline(transaction=True) as pipe:
        for _ in range(retries):
            try:
                await pipe.watch(key)
                result, write = await decide(pipe)
                pipe.multi()
                write(pipe)
                await pipe.execute()
                return result
            except WatchError:
                continue  # someone else changed it: decide again on fresh data
    raise Busy(busy)
