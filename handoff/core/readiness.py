"""Readiness of a process: may a load balancer send it traffic now (``/ready``)?

Liveness (``/health``) says the process answers; readiness adds what it needs to do its
work: Redis reachable on every process, a loaded model on Rasa. A process that is not
ready answers 503 with what is missing, so HAProxy takes it out of rotation until it
recovers instead of restarting it.

No web framework here: each app turns :class:`Readiness` into its own response.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Dict, Mapping

from handoff.core import process_metrics

OK = "ok"
DOWN = "down"
CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class Readiness:
    """The outcome of every check of one process, by name (``{"redis": "ok"}``)."""

    checks: Mapping[str, str]

    @property
    def ready(self) -> bool:
        """Whether every check passed."""
        return all(value == OK for value in self.checks.values())

    @property
    def status(self) -> int:
        """The HTTP status to answer: 200 when ready, 503 otherwise."""
        return 200 if self.ready else 503

    @property
    def body(self) -> Dict[str, Any]:
        """``{"status": "ready" | "not_ready", "checks": {...}}``."""
        return {"status": "ready" if self.ready else "not_ready", "checks": dict(self.checks)}


async def redis_check(redis: Any, server: str, timeout: float = CHECK_SECONDS) -> str:
    """``ok`` when Redis answers a PING within ``timeout``, ``down`` otherwise (counted).

    Args:
        redis: A ``redis.asyncio`` client.
        server: The process's name in the metrics (``handoff``, ``widget``, ``actions``).
        timeout: Seconds; the client's own retries could otherwise outlast the load
            balancer's check, which would then see no answer instead of a 503.
    """
    try:
        await asyncio.wait_for(redis.ping(), timeout)
    except asyncio.TimeoutError:
        process_metrics.count_redis_timeout(server)
        return DOWN
    except OSError:
        return DOWN
    except Exception as exc:  # noqa: BLE001 - anything but a Redis failure is a bug: re-raise
        if process_metrics.count_redis_error(server, exc):
            return DOWN
        raise
    return OK
