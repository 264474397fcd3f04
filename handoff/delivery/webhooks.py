"""Signed, retried webhooks: every lifecycle event POSTed to each configured endpoint.

:func:`handoff.core.events.publish` writes every event (``conversation.*``, ``ticket.*``,
``followup.answered``, ``team.away`` ...) to the stream ``handoff:webhook_events`` in the
transaction of the change. Each endpoint of the ``webhooks:`` settings has its own
consumer group on that stream, so every service instance can run a deliverer and each
event still reaches each endpoint once: the group hands an entry to one consumer, which
acknowledges it only after the receiver answered 2xx, or after it gave up and kept the
delivery in ``handoff:webhook_failed``.

One request::

    POST <url>
    Content-Type: application/json
    X-Handoff-Event: conversation.closed
    X-Handoff-Delivery: 1716543210123-0           (the stream id: the idempotency key)
    X-Handoff-Signature: t=1716543210,v1=<hex HMAC-SHA256 of "<t>.<body>">

    {"id": "1716543210123-0", "type": "conversation.closed", "at": 1716543210.1,
     "data": {...the event...}}

Retries: connection errors, timeouts, 408, 429 and 5xx are retried with exponential
backoff and jitter (a ``Retry-After`` is honoured up to ``retry_max_seconds``), up to
``max_attempts``; any other answer is final. A consumer that dies mid-delivery leaves
its entry pending; another consumer takes it over (XAUTOCLAIM) once it has been idle for
``claim_idle_ms``. While retrying, a consumer keeps touching its entry so that nobody
takes over a delivery that is merely waiting.

Order: one consumer delivers its entries one after the other, each retried before the
next, so with one service instance a receiver sees events in order. With several
instances, or after a take-over, order the events by ``X-Handoff-Delivery`` (stream ids
increase with time).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from handoff.core import keys
from handoff.core.settings import WebhookEndpoint, WebhooksConfig

logger = logging.getLogger(__name__)

USER_AGENT = "handoff-webhooks/1"
FAILED_KEEP = 10_000  # dead letters kept (newest)
TOUCH_SECONDS = 15.0  # a waiting retry re-claims its entry this often
READ_COUNT = 10
RETRIED_STATUSES = {408, 429}
STALE_CONSUMER_MS = 86_400_000  # consumers idle this long with nothing pending are removed


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Handoff-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str, body: bytes, header: str, *, tolerance: float = 300, now: Optional[float] = None
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` s old.

    What a receiver does (docs/handoff.md shows the same in a few lines of Python).
    """
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    delivered: bool
    retry: bool
    error: str = ""
    retry_after: Optional[float] = None


class WebhookDeliverer:
    """Delivers the event stream to every configured endpoint until closed.

    Args:
        redis: An asyncio Redis client with decoded replies.
        config: The ``webhooks:`` settings.
        env: Where the endpoints' ``secret_env`` variables are read (default ``os.environ``).
        consumer: This consumer's name in the groups (default: random, one per process).
        block_ms: How long one read waits for new events.
        claim_idle_ms: An entry pending this long without a touch is taken over.
        rand: Returns a float in [0, 1) for the jitter (tests pass a fixed one).

    Raises:
        ConfigError: an endpoint's secret variable is unset or too short.
    """

    def __init__(
        self,
        redis: Redis,
        config: WebhooksConfig,
        *,
        env: Optional[Mapping[str, str]] = None,
        consumer: Optional[str] = None,
        block_ms: int = 5000,
        claim_idle_ms: Optional[int] = None,
        rand: Callable[[], float] = random.random,
    ):
        """Read the secrets now, so a missing one stops the service at start-up."""
        self._redis = redis
        self._config = config
        self._secrets = {e.group: e.secret(env) for e in config.endpoints}
        self.consumer = consumer or f"{uuid.uuid4().hex[:12]}"
        self._block_ms = block_ms
        touch_ms = int(1000 * (config.timeout_seconds + TOUCH_SECONDS))
        self._claim_idle_ms = claim_idle_ms or 3 * touch_ms
        self._rand = rand
        self._tasks: List[asyncio.Task] = []
        self._session: Optional[aiohttp.ClientSession] = None
        self._stopping = asyncio.Event()

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start one delivery loop per endpoint in the running event loop."""
        if self._tasks:
            return
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._config.timeout_seconds),
            headers={"User-Agent": USER_AGENT},
        )
        self._tasks = [
            asyncio.ensure_future(self._serve(endpoint)) for endpoint in self._config.endpoints
        ]

    async def close(self) -> None:
        """Stop delivering; a delivery cut short stays pending and is taken over later.

        The loops are asked to stop and end after their current read or POST; cancelled only
        if they do not in time. Cancelling a Redis command in flight can leave its
        connection waiting for a reply that was already read (the next command hangs).
        """
        tasks, self._tasks = self._tasks, []
        self._stopping.set()
        grace = self._block_ms / 1000 + self._config.timeout_seconds + 5
        try:
            await asyncio.wait_for(
                asyncio.shield(asyncio.gather(*tasks, return_exceptions=True)), timeout=grace
            )
        except asyncio.TimeoutError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._stopping.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def ensure_groups(self) -> None:
        """Create each endpoint's group if needed; a new group starts with the next event."""
        for endpoint in self._config.endpoints:
            await self._ensure_group(endpoint)

    async def _serve(self, endpoint: WebhookEndpoint) -> None:
        ready = False
        while not self._stopping.is_set():
            try:
                if not ready:
                    await self._ensure_group(endpoint)
                    await self._forget_stale_consumers(endpoint)
                    ready = True
                for entry_id, fields in await self._reclaim(endpoint):
                    await self._handle(endpoint, entry_id, fields)
                for entry_id, fields in await self._read(endpoint):
                    await self._handle(endpoint, entry_id, fields)
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    ready = False  # the stream was deleted: recreate the group
                    continue
                logger.error("webhooks %s: Redis refused: %s", endpoint.url, exc)
                await self._pause(1.0)
            except (RedisError, OSError) as exc:
                logger.warning("webhooks %s: Redis unavailable: %s", endpoint.url, exc)
                await self._pause(1.0)
            except Exception:  # noqa: BLE001 - one bad entry must not stop delivery for good
                logger.exception("webhooks %s: delivery loop failed", endpoint.url)
                await self._pause(1.0)

    async def _ensure_group(self, endpoint: WebhookEndpoint) -> None:
        try:
            await self._redis.xgroup_create(
                keys.WEBHOOK_EVENTS, endpoint.group, id="$", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _forget_stale_consumers(self, endpoint: WebhookEndpoint) -> None:
        # Every process start is a new consumer: drop the long-gone ones with nothing pending.
        for info in await self._redis.xinfo_consumers(keys.WEBHOOK_EVENTS, endpoint.group):
            if info.get("pending") == 0 and (info.get("idle") or 0) > STALE_CONSUMER_MS:
                await self._redis.xgroup_delconsumer(
                    keys.WEBHOOK_EVENTS, endpoint.group, info["name"]
                )

    async def _read(self, endpoint: WebhookEndpoint) -> List[Tuple[str, Optional[Dict]]]:
        reply = await self._redis.xreadgroup(
            endpoint.group,
            self.consumer,
            {keys.WEBHOOK_EVENTS: ">"},
            count=READ_COUNT,
            block=self._block_ms,
        )
        return [entry for _stream, entries in reply or [] for entry in entries]

    async def _reclaim(self, endpoint: WebhookEndpoint) -> List[Tuple[str, Optional[Dict]]]:
        """Entries of consumers that stopped touching them (crashed), now this one's."""
        reply = await self._redis.xautoclaim(
            keys.WEBHOOK_EVENTS,
            endpoint.group,
            self.consumer,
            min_idle_time=self._claim_idle_ms,
            start_id="0-0",
            count=READ_COUNT,
        )
        # Redis 6.2 answers an entry trimmed meanwhile as nil; 7 lists it under "deleted".
        claimed = [(i, f) for i, f in (reply[1] if len(reply) > 1 else []) if i is not None]
        deleted = list(reply[2]) if len(reply) > 2 else []
        if deleted:
            # Trimmed from the stream while pending (the log is capped): nothing to send.
            await self._redis.xack(keys.WEBHOOK_EVENTS, endpoint.group, *deleted)
        return claimed

    # ---- one entry -------------------------------------------------------------------------

    async def _handle(
        self, endpoint: WebhookEndpoint, entry_id: str, fields: Optional[Mapping[str, str]]
    ) -> None:
        event = _event(fields)
        if event is None or not endpoint.wants(str(event.get("type", ""))):
            await self._redis.xack(keys.WEBHOOK_EVENTS, endpoint.group, entry_id)
            return
        body = json.dumps(
            {"id": entry_id, "type": event.get("type"), "at": event.get("at"), "data": event}
        ).encode()
        attempts, outcome = 0, Outcome(False, True)
        while attempts < self._config.max_attempts:
            attempts += 1
            if not await self._touch(endpoint, entry_id):
                return  # another consumer took it over; it delivers
            outcome = await self._post(endpoint, entry_id, str(event.get("type")), body)
            if outcome.delivered:
                await self._redis.xack(keys.WEBHOOK_EVENTS, endpoint.group, entry_id)
                return
            if not outcome.retry or attempts >= self._config.max_attempts:
                break
            logger.info(
                "webhook %s to %s failed (%s), attempt %d of %d",
                entry_id,
                endpoint.url,
                outcome.error,
                attempts,
                self._config.max_attempts,
            )
            if not await self._wait(endpoint, entry_id, self._backoff(attempts, outcome)):
                return
        await self._give_up(endpoint, entry_id, event, attempts, outcome.error)

    async def _post(
        self, endpoint: WebhookEndpoint, entry_id: str, event_type: str, body: bytes
    ) -> Outcome:
        assert self._session is not None, "start() first"
        headers = {
            "Content-Type": "application/json",
            "X-Handoff-Event": event_type,
            "X-Handoff-Delivery": entry_id,
            "X-Handoff-Signature": sign(self._secrets[endpoint.group], body, int(time.time())),
        }
        try:
            async with self._session.post(
                endpoint.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                await resp.read()
                status = resp.status
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except asyncio.TimeoutError:
            return Outcome(False, True, "timeout")
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(False, True, f"connection failed: {type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return Outcome(True, False)
        retry = status >= 500 or status in RETRIED_STATUSES
        return Outcome(False, retry, f"HTTP {status}", retry_after)

    def _backoff(self, attempts: int, outcome: Outcome) -> float:
        config = self._config
        delay = min(config.retry_max_seconds, config.retry_base_seconds * 2 ** (attempts - 1))
        delay *= 0.5 + 0.5 * self._rand()  # jitter: instances do not retry in step
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, config.retry_max_seconds))
        return delay

    async def _wait(self, endpoint: WebhookEndpoint, entry_id: str, seconds: float) -> bool:
        """Sleep ``seconds``, keeping the entry claimed; False if another consumer took it."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            await self._pause(min(left, TOUCH_SECONDS))
            if self._stopping.is_set():
                return False  # stopping: the entry stays pending for whoever runs next
            if not await self._touch(endpoint, entry_id):
                return False
        return True

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the deliverer is stopping."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _touch(self, endpoint: WebhookEndpoint, entry_id: str) -> bool:
        # XCLAIM by the owner resets the idle time, so XAUTOCLAIM leaves a live retry alone.
        claimed = await self._redis.xclaim(
            keys.WEBHOOK_EVENTS,
            endpoint.group,
            self.consumer,
            min_idle_time=0,
            message_ids=[entry_id],
            justid=True,
        )
        return bool(claimed)

    async def _give_up(
        self,
        endpoint: WebhookEndpoint,
        entry_id: str,
        event: Mapping[str, Any],
        attempts: int,
        error: str,
    ) -> None:
        logger.error(
            "webhook %s to %s failed after %d attempts: %s", entry_id, endpoint.url, attempts, error
        )
        record = {
            "endpoint": endpoint.group,
            "url": endpoint.url,
            "delivery": entry_id,
            "type": event.get("type"),
            "event": dict(event),
            "attempts": attempts,
            "error": error,
            "failed_at": time.time(),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(keys.WEBHOOK_FAILED, json.dumps(record))
            pipe.ltrim(keys.WEBHOOK_FAILED, -FAILED_KEEP, -1)
            pipe.xack(keys.WEBHOOK_EVENTS, endpoint.group, entry_id)
            await pipe.execute()


async def failed_deliveries(redis: Redis, count: int = 100) -> List[Dict[str, Any]]:
    """The newest deliveries given up on, newest first."""
    items = await redis.lrange(keys.WEBHOOK_FAILED, -count, -1)
    return [json.loads(item) for item in reversed(items)]


def _event(fields: Optional[Mapping[str, str]]) -> Optional[Dict[str, Any]]:
    if not fields or "event" not in fields:
        return None
    try:
        event = json.loads(fields["event"])
    except ValueError:
        logger.error("webhooks: an event that is not JSON was skipped")
        return None
    return event if isinstance(event, dict) else None


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: the backoff decides
    return seconds if seconds >= 0 else None
