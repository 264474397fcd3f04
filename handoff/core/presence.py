"""Which CSRs have a console open right now: the bot offers a ticket when nobody has.

An open console's live socket (``/api/events``, :mod:`handoff.service.routes`) marks its
account as seen when it connects and each time it rechecks its token, every few seconds.
A console that closes simply stops refreshing: it counts as online for ``within_seconds``
more (``tickets.presence_seconds``), then not. The marks are one sorted set,
``handoff:presence`` (username -> last seen); marks older than :data:`KEEP_SECONDS` are
trimmed on each write, and the key expires with the last of them.
"""

from __future__ import annotations

import time
from typing import Callable, List

from redis.asyncio import Redis

from handoff.core import keys
from handoff.core.errors import InvalidInput
from handoff.core.settings import MAX_PRESENCE_SECONDS

# Roles whose consoles take chats (handoff.core.auth.ROLES: admins claim chats too).
CHAT_ROLES = frozenset({"csr", "admin"})
# No caller asks about consoles seen longer ago than this (the longest presence_seconds).
KEEP_SECONDS = MAX_PRESENCE_SECONDS


def takes_chats(role: str) -> bool:
    """Whether an account of ``role`` answers chats, so its open console counts as presence."""
    return role in CHAT_ROLES


class Presence:
    """When each CSR's console last said it was open.

    Args:
        redis: An asyncio Redis client with decoded replies.
        clock: Returns the current epoch time.
    """

    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time):
        """Keep the client; nothing is read yet."""
        self._redis = redis
        self._clock = clock

    async def seen(self, username: str) -> None:
        """Mark ``username``'s console as open now (and trim marks nobody asks about).

        Raises:
            InvalidInput: the username cannot be part of a key.
        """
        if not keys.check_id(username):
            raise InvalidInput("invalid username")
        now = self._clock()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.PRESENCE, {username: now})
            pipe.zremrangebyscore(keys.PRESENCE, "-inf", f"({now - KEEP_SECONDS}")
            pipe.expire(keys.PRESENCE, KEEP_SECONDS)
            await pipe.execute()

    async def online(self, within_seconds: float) -> List[str]:
        """Usernames seen in the last ``within_seconds``, the longest unseen first."""
        since = self._clock() - within_seconds
        return list(await self._redis.zrangebyscore(keys.PRESENCE, since, "+inf"))

    async def anyone_online(self, within_seconds: float) -> bool:
        """Whether any console was seen in the last ``within_seconds``."""
        since = self._clock() - within_seconds
        return await self._redis.zcount(keys.PRESENCE, since, "+inf") > 0
