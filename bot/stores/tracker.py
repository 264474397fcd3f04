"""Rasa's Redis tracker store, connected by the project's builder."""

from __future__ import annotations

from typing import Any, Optional

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import RedisTrackerStore as RasaRedisTrackerStore
from rasa.shared.core.domain import Domain

from handoff.core.redis_connection import sync_client
from handoff.core.settings import HandoffConfig, load_config


class RedisTrackerStore(RasaRedisTrackerStore):
    """Conversations in Redis, through the pooled, retried, Sentinel-aware client.

    Rasa passes the ``tracker_store:`` section of ``endpoints.yml`` as keywords.
    ``key_prefix`` and ``record_exp`` are used; where Redis is (``url``, ``port``,
    ``db``, ``password``) comes from the handoff settings instead (``REDIS_URL``,
    ``redis:`` in ``handoff.yml``), the one place every process reads it from.

    Like Rasa's own store it calls Redis synchronously from its ``async`` methods.

    Args:
        domain: The bot's domain.
        event_broker: Where Rasa publishes events (none here).
        record_exp: Seconds a tracker is kept after its last change (None: for ever).
        key_prefix: Alphanumeric prefix of the tracker keys (``rasa`` in endpoints.yml).
        config: The settings to connect with (default: :func:`load_config`).
        **kwargs: The rest of the section (``url``, ``port``, ``db`` ...), ignored.
    """

    def __init__(
        self,
        domain: Domain,
        event_broker: Optional[EventBroker] = None,
        record_exp: Optional[float] = None,
        key_prefix: Optional[str] = None,
        config: Optional[HandoffConfig] = None,
        **kwargs: Any,
    ) -> None:
        """Build Rasa's store, then give it the project's client (nothing connects yet)."""
        super().__init__(
            domain, event_broker=event_broker, record_exp=record_exp, key_prefix=key_prefix
        )
        self.red = sync_client(config or load_config())
