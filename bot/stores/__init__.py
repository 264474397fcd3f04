"""Rasa's Redis tracker and lock stores on the project's one Redis builder.

Named in ``endpoints.yml`` as ``type: bot.stores.RedisTrackerStore`` and
``type: bot.stores.RedisLockStore``. They are Rasa's own stores with one change: the
client comes from :func:`handoff.core.redis_connection.sync_client`, so Rasa reaches
Redis like every other process (``REDIS_URL``, Sentinel discovery with
``REDIS_SENTINELS``, the bounded pool, retries with backoff, health checks) and follows
a failover to the new primary.
"""

from bot.stores.lock import RedisLockStore
from bot.stores.tracker import RedisTrackerStore

__all__ = ["RedisLockStore", "RedisTrackerStore"]
