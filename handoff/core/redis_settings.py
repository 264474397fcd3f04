"""The ``redis:`` section of ``handoff.yml``: how every process reaches Redis and rides out outages.

``redis_url`` (top level, ``REDIS_URL``) still names the server, database and password.
With ``sentinels`` listed, the primary's address comes from Redis Sentinel instead and the
URL only gives the database and password, so a failover moves every process to the new
primary without a restart. The builder is :mod:`handoff.core.redis_connection`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, List, Mapping, Tuple

from handoff.core.errors import ConfigError


def _address_list(raw: str) -> List[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


# environment variable -> (key of the ``redis:`` section, parser)
REDIS_ENV_OVERRIDES: Dict[str, Tuple[str, Callable[[str], Any]]] = {
    "REDIS_SENTINELS": ("sentinels", _address_list),
    "REDIS_SENTINEL_SERVICE": ("sentinel_service", str),
    "REDIS_MAX_CONNECTIONS": ("max_connections", int),
    "REDIS_SOCKET_TIMEOUT_SECONDS": ("socket_timeout_seconds", float),
    "REDIS_RETRIES": ("retries", int),
}


@dataclass(frozen=True)
class RedisSettings:
    """How a process connects to Redis (the ``redis:`` section).

    Attributes:
        sentinels: ``host:port`` of each Sentinel; empty connects to ``redis_url`` directly.
        sentinel_service: The name the Sentinels monitor the primary under.
        max_connections: Connections one process's pool may open; a command waits for a
            free one rather than opening more.
        pool_timeout_seconds: How long a command waits for a free connection (then 503).
        connect_timeout_seconds: Timeout of opening one connection.
        socket_timeout_seconds: Longest wait for one reply. Must be longer than every
            blocking read (``XREAD``/``XREADGROUP`` ``BLOCK``) the processes issue.
        health_check_interval_seconds: A connection idle this long is checked with a
            ``PING`` before its next command (finds connections a failover broke).
        retries: Retries of one command after a connection error or timeout, with
            exponential backoff; beyond them the caller sees the error (503).
        retry_backoff_cap_seconds: The longest wait between two retries.
    """

    sentinels: Tuple[str, ...] = ()
    sentinel_service: str = "storefront"
    max_connections: int = 50
    pool_timeout_seconds: float = 5.0
    connect_timeout_seconds: float = 2.0
    socket_timeout_seconds: float = 15.0
    health_check_interval_seconds: float = 30.0
    retries: int = 4
    retry_backoff_cap_seconds: float = 1.0

    def sentinel_addresses(self) -> List[Tuple[str, int]]:
        """The Sentinels as ``(host, port)`` pairs (validated by :func:`redis_settings`)."""
        return [_address(item) for item in self.sentinels]


def redis_settings(raw: Any) -> RedisSettings:
    """The ``redis:`` section, validated.

    Raises:
        ConfigError: an unknown key or a value out of range.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("redis must be a mapping")
    unknown = set(raw) - {f.name for f in fields(RedisSettings)}
    if unknown:
        raise ConfigError(f"unknown redis config keys: {', '.join(sorted(unknown))}")
    values = dict(raw)
    sentinels = values.get("sentinels") or []
    if isinstance(sentinels, str):
        sentinels = _address_list(sentinels)
    if not isinstance(sentinels, (list, tuple)):
        raise ConfigError("redis.sentinels must be a list of host:port")
    for item in sentinels:
        _address(item)
    values["sentinels"] = tuple(sentinels)
    settings = RedisSettings(**values)
    _check(settings)
    return settings


def _address(item: Any) -> Tuple[str, int]:
    host, _, port = str(item).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"redis.sentinels: {item!r} is not host:port")
    return host.strip("[]"), int(port)


def _check(settings: RedisSettings) -> None:
    if not isinstance(settings.sentinel_service, str) or not settings.sentinel_service:
        raise ConfigError("redis.sentinel_service must name the monitored primary")
    for name in ("max_connections", "retries"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"redis.{name} must be a whole number")
    if settings.max_connections < 1:
        raise ConfigError("redis.max_connections must be at least 1")
    for f in fields(RedisSettings):
        if f.name.endswith("_seconds"):
            value = getattr(settings, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"redis.{f.name} must be a positive number of seconds")
