"""The customer data the retraining tools read or keep, for retention and erasure.

Rasa's trackers (every message of every conversation, in the Redis tracker store) and
the review items listed from them quote customers. The core's retention
(:mod:`handoff.core.retention`) cannot import this package, so the handoff service
hands it these two parts (:class:`handoff.core.retention.ConversationData`).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Sequence

from redis.asyncio import Redis

from bot.retraining import keys
from bot.retraining.review import tracker_events


class RasaTrackers:
    """Rasa's trackers in its RedisTrackerStore (``<key_prefix>:tracker:<conversation id>``).

    Args:
        redis: Client on the database of Rasa's tracker store.
        key_prefix: ``tracker_store.key_prefix`` of ``endpoints.yml``.
    """

    name = "trackers"

    def __init__(self, redis: Redis, key_prefix: str):
        """Keep the client and the prefix; nothing is read yet."""
        self._redis = redis
        self._prefix = key_prefix

    async def last_activity(self) -> Dict[str, float]:
        """Conversation id -> time of its tracker's newest event (0 without events)."""
        found: Dict[str, float] = {}
        async for conv_id, events in tracker_events(self._redis, self._prefix):
            times = [_time(e) for e in events if isinstance(e, dict)]
            found[conv_id] = max(times, default=0.0)
        return found

    async def export(self, conv_ids: Sequence[str]) -> List[Dict[str, Any]]:
        """The events of each conversation's tracker, as Rasa keeps them."""
        exported = []
        for conv_id in conv_ids:
            raw = await self._redis.get(self._key(conv_id))
            if raw is None:
                continue
            try:
                events = json.loads(raw).get("events") or []
            except (ValueError, AttributeError):
                events = []
            exported.append({"conversation_id": conv_id, "events": events})
        return exported

    async def erase(self, conv_ids: Sequence[str]) -> int:
        """Delete the conversations' trackers; how many there were."""
        if not conv_ids:
            return 0
        return await self._redis.delete(*(self._key(c) for c in conv_ids))

    def _key(self, conv_id: str) -> str:
        return keys.tracker_prefix(self._prefix) + conv_id


class ReviewItems:
    """Review items as last listed (``retraining:item:<id>``): masked texts and their context.

    An item groups one question from many conversations; it goes as soon as one of them
    is erased. It is only a copy: the next listing builds it again from the trackers
    left, without the erased customer.
    """

    name = "review_items"

    def __init__(self, redis: Redis):
        """Keep the client; nothing is read yet."""
        self._redis = redis

    async def last_activity(self) -> Dict[str, float]:
        """None of their own: items expire (``item_ttl_days``) and follow their trackers."""
        return {}

    async def export(self, conv_ids: Sequence[str]) -> List[Dict[str, Any]]:
        """The items quoting any of these conversations."""
        return [item for _, item in await self._quoting(conv_ids)]

    async def erase(self, conv_ids: Sequence[str]) -> int:
        """Delete the items quoting any of these conversations; how many there were."""
        found = [key for key, _ in await self._quoting(conv_ids)]
        return await self._redis.delete(*found) if found else 0

    async def _quoting(self, conv_ids: Sequence[str]) -> List[Any]:
        wanted = set(conv_ids)
        if not wanted:
            return []
        found = []
        async for key in self._redis.scan_iter(match=keys.item("*"), count=500):
            raw = await self._redis.get(key)
            try:
                item = json.loads(raw) if raw else None
            except ValueError:
                continue
            if isinstance(item, dict) and wanted & set(item.get("conversations") or []):
                found.append((key, item))
        return found


def _time(event: Dict[str, Any]) -> float:
    try:
        return float(event.get("timestamp") or 0.0)
    except (TypeError, ValueError):
        return 0.0
