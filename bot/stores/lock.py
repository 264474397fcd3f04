"""Rasa's Redis lock store, connected by the project's builder."""

from __future__ import annotations

from typing import Any, Optional

from rasa.core.lock_store import RedisLockStore as RasaRedisLockStore
from rasa.utils.endpoints import EndpointConfig

from handoff.core.redis_connection import sync_client
from handoff.core.settings import HandoffConfig, load_config


class RedisLockStore(RasaRedisLockStore):
    """Conversation locks in Redis, through the pooled, retried, Sentinel-aware client.

    Rasa builds a custom lock store with ``endpoint_config=`` (the ``lock_store:`` section
    of ``endpoints.yml``). Only its ``key_prefix`` is used; the connection comes from the
    handoff settings, as for :class:`bot.stores.RedisTrackerStore`.

    Args:
        endpoint_config: The ``lock_store:`` section.
        key_prefix: Alphanumeric prefix of the lock keys, when built without a section.
        config: The settings to connect with (default: :func:`load_config`).
        **kwargs: Ignored (``url``, ``port``, ``db`` ...).
    """

    def __init__(
        self,
        endpoint_config: Optional[EndpointConfig] = None,
        key_prefix: Optional[str] = None,
        config: Optional[HandoffConfig] = None,
        **kwargs: Any,
    ) -> None:
        """Build Rasa's store, then give it the project's client (nothing connects yet)."""
        if endpoint_config is not None:
            key_prefix = endpoint_config.kwargs.get("key_prefix", key_prefix)
        super().__init__(key_prefix=key_prefix)
        # Rasa's own lock store reads bytes; json.loads takes either.
        self.red = sync_client(config or load_config(), decode_responses=False)
