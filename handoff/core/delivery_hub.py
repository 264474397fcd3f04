"""One process's live delivery to its customer sockets, over a constant number of connections.

A socket used to hold its own Redis connection (a blocking XREAD) plus a pub/sub
connection for typing notices: 1,000 sockets were 1,006 Redis clients. A hub is one
per process, whatever the number of sockets:

- one pub/sub connection, subscribed per open conversation to its
  ``outbox_appended`` channel (:meth:`Outbox.append` publishes there) and its
  ``signals`` channel (typing notices), plus ``keys.DELIVERY`` (re-read everything);
- one reader task: woken subscriptions are read in batches with
  :meth:`Outbox.read_many`, one pipeline on one pooled connection.

The outbox stays the source of truth: a notification only says "read again", and each
subscription keeps the id of the last entry it handed out, so a woken read returns
exactly what it has not seen, in order, once. Nothing is lost when notifications are:
each subscribe confirmation (also after the pub/sub connection is rebuilt, e.g. a
Redis restart) triggers a read, and every ``sweep_seconds`` every subscription is
read anyway (writers that do not publish, such as an older release during a deploy).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, AsyncIterator, Dict, List, Optional, Set, Tuple

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from handoff.core import keys
from handoff.core.outbox import Entry, Outbox
from handoff.core.redis_connection import pubsub_messages

logger = logging.getLogger(__name__)

PAGE = 100  # entries read per subscription and round; also how far a slow socket may lag
BATCH = 500  # subscriptions read in one pipeline
SWEEP_SECONDS = 30.0
RETRY_SECONDS = (0.1, 2.0)  # first and longest wait between attempts while Redis is away

_APPENDED = keys.outbox_appended("")
_SIGNALS = keys.signals("")


class HubClosed(Exception):
    """The hub stopped (the process is shutting down): no more deliveries."""


@dataclass(frozen=True)
class Delivery:
    """One thing for a socket: an outbox entry (``kind="message"``) or a typing notice.

    Attributes:
        kind: ``"message"`` or ``"signal"``.
        entry: The outbox entry (id, message) of a message.
        notice: The published notice (a JSON object) of a signal.
    """

    kind: str
    entry: Optional[Entry] = None
    notice: Optional[Dict[str, Any]] = None


_END = object()


class Subscription:
    """One socket's view of a conversation: what it was given, and what is ready for it.

    Created by :meth:`DeliveryHub.subscribe`. ``after`` is the id of the last entry handed
    to the socket (None: nothing yet); only the hub's reader moves it.
    """

    def __init__(self, hub: "DeliveryHub", conv_id: str, after: Optional[str]):
        """Start after ``after``."""
        self.conv_id = conv_id
        self.after = after
        self.behind = False  # the reader skipped it while the socket was still busy
        self._hub = hub
        self._ready: asyncio.Queue = asyncio.Queue()

    async def next(self) -> Delivery:
        """The next delivery, waiting as long as it takes.

        Raises:
            HubClosed: the hub stopped.
        """
        item = await self._ready.get()
        if item is _END:
            self._ready.put_nowait(_END)
            raise HubClosed("the delivery hub stopped")
        if self.behind and self._ready.empty():
            self.behind = False
            self._hub.wake(self)
        return item

    def pending(self) -> int:
        """How many deliveries wait for the socket."""
        return self._ready.qsize()

    def put_entries(self, entries: List[Entry]) -> None:
        """Queue entries the reader read after ``after`` and move the cursor past them."""
        for entry in entries:
            self._ready.put_nowait(Delivery("message", entry=entry))
        if entries:
            self.after = entries[-1][0]

    def put_notice(self, notice: Dict[str, Any]) -> None:
        """Queue a typing notice."""
        self._ready.put_nowait(Delivery("signal", notice=notice))

    def end(self) -> None:
        """Make :meth:`next` raise :class:`HubClosed` once what is queued is taken."""
        self._ready.put_nowait(_END)


class DeliveryHub:
    """Live outbox entries and typing notices for every socket of one process.

    Args:
        redis: The process's client; the pub/sub connection comes from its pool.
        outbox: The outbox to read from (on the same Redis).
        sweep_seconds: How often every subscription is read without a notification.
    """

    def __init__(self, redis: Redis, outbox: Outbox, sweep_seconds: float = SWEEP_SECONDS):
        """Nothing connects before the first subscription."""
        self._redis = redis
        self._outbox = outbox
        self._sweep_seconds = sweep_seconds
        self._subs: Dict[str, Set[Subscription]] = {}
        self._woken: "OrderedDict[Subscription, None]" = OrderedDict()  # FIFO set: fair
        self._wakeup = asyncio.Event()
        self._pubsub: Optional[PubSub] = None
        self._commands = asyncio.Lock()  # pub/sub (un)subscribes and its rebuilds, in order
        self._tasks: List[asyncio.Task] = []
        self._next_sweep: Optional[float] = None

    @contextlib.asynccontextmanager
    async def subscribe(self, conv_id: str, after: Optional[str]) -> AsyncIterator[Subscription]:
        """Deliveries for one socket of ``conv_id``: entries after ``after``, then live ones."""
        subscription = Subscription(self, conv_id, after)
        await self._add(subscription)
        try:
            yield subscription
        finally:
            await self._remove(subscription)

    def wake(self, subscription: Subscription) -> None:
        """Have the reader read ``subscription``'s outbox soon."""
        self._woken[subscription] = None
        self._wakeup.set()

    def wake_all(self) -> None:
        """Have the reader read every subscription's outbox."""
        for subscriptions in self._subs.values():
            for subscription in subscriptions:
                self.wake(subscription)

    def conversations(self) -> int:
        """How many conversations have a socket here."""
        return len(self._subs)

    async def close(self) -> None:
        """Stop the tasks, give back the pub/sub connection, end every subscription."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._drop_pubsub()
        for subscriptions in self._subs.values():
            for subscription in subscriptions:
                subscription.end()

    # ---- subscriptions ----

    async def _add(self, subscription: Subscription) -> None:
        self._start()
        subscriptions = self._subs.setdefault(subscription.conv_id, set())
        first = not subscriptions
        subscriptions.add(subscription)
        self.wake(subscription)  # the backlog now; the subscribe confirmation reads again
        if first:
            await self._send("subscribe", subscription.conv_id)

    async def _remove(self, subscription: Subscription) -> None:
        self._woken.pop(subscription, None)
        subscriptions = self._subs.get(subscription.conv_id)
        if subscriptions is None:
            return
        subscriptions.discard(subscription)
        if not subscriptions:
            del self._subs[subscription.conv_id]
            await self._send("unsubscribe", subscription.conv_id)

    async def _send(self, command: str, conv_id: str) -> None:
        async with self._commands:
            pubsub = self._pubsub
            if pubsub is None:
                return  # the listener subscribes to every open conversation when it connects
            try:
                await getattr(pubsub, command)(*_channels(conv_id))
            except Exception as exc:  # noqa: BLE001 - the listener rebuilds the connection
                logger.debug("delivery hub: %s %s failed: %s", command, conv_id, exc)

    def _start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.ensure_future(self._listen()),
                asyncio.ensure_future(self._read_forever()),
            ]

    # ---- the pub/sub connection ----

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                pubsub = await self._connect()
                if failures:
                    logger.info("delivery hub: pub/sub connection back")
                failures = 0
                async for message in pubsub_messages(pubsub):
                    self._on_message(message)
                await self._drop_pubsub()  # it stopped being subscribed (unexpected): rebuild
            except Exception as exc:  # noqa: BLE001 - Redis away: rebuild, never give up
                failures += 1
                if failures == 1:
                    logger.warning("delivery hub: pub/sub connection lost: %s", exc)
                await self._drop_pubsub()
                await asyncio.sleep(_backoff(failures))

    async def _connect(self) -> PubSub:
        """A new pub/sub connection subscribed to every open conversation."""
        async with self._commands:
            pubsub = self._redis.pubsub()
            channels = [channel for conv_id in self._subs for channel in _channels(conv_id)]
            try:
                await pubsub.subscribe(keys.DELIVERY, *channels)
            except BaseException:
                await _reset(pubsub)
                raise
            self._pubsub = pubsub
            return pubsub

    async def _drop_pubsub(self) -> None:
        async with self._commands:
            pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await _reset(pubsub)

    def _on_message(self, message: Dict[str, Any]) -> None:
        kind, channel = message.get("type"), _text(message.get("channel"))
        if kind == "subscribe" and channel.startswith(_APPENDED):
            self._wake_conversation(channel[len(_APPENDED) :])  # catch up from here on
        elif kind != "message":
            return
        elif channel == keys.DELIVERY:
            self.wake_all()
        elif channel.startswith(_APPENDED):
            self._wake_conversation(channel[len(_APPENDED) :])
        elif channel.startswith(_SIGNALS):
            self._forward_notice(channel[len(_SIGNALS) :], message.get("data"))

    def _wake_conversation(self, conv_id: str) -> None:
        for subscription in self._subs.get(conv_id, ()):
            self.wake(subscription)

    def _forward_notice(self, conv_id: str, data: Any) -> None:
        try:
            notice = json.loads(data)
        except (TypeError, ValueError):
            return
        if isinstance(notice, dict):
            for subscription in self._subs.get(conv_id, ()):
                subscription.put_notice(notice)

    # ---- the reader ----

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            await self._wait_for_work()
            batch = self._take(BATCH)
            try:
                await self._read(batch)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - Redis away: read them again later
                failures += 1
                if failures == 1:
                    logger.warning("delivery hub: outbox read failed: %s", exc)
                for subscription in batch:
                    self._woken.setdefault(subscription, None)
                await asyncio.sleep(_backoff(failures))

    async def _wait_for_work(self) -> None:
        """Until a subscription is woken, or it is time to sweep (then all of them are)."""
        loop = asyncio.get_running_loop()
        if self._next_sweep is None:
            self._next_sweep = loop.time() + self._sweep_seconds
        if not self._woken:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._next_sweep - loop.time())
        if loop.time() >= self._next_sweep:
            self._next_sweep = loop.time() + self._sweep_seconds
            self.wake_all()
        self._wakeup.clear()

    def _take(self, count: int) -> List[Subscription]:
        batch = []
        while self._woken and len(batch) < count:
            subscription, _ = self._woken.popitem(last=False)
            if subscription in self._subs.get(subscription.conv_id, ()):  # still open
                batch.append(subscription)
        return batch

    async def _read(self, batch: List[Subscription]) -> None:
        ready = []
        for subscription in batch:
            if subscription.pending() >= PAGE:
                subscription.behind = True  # its socket wakes it once it has caught up
            else:
                ready.append(subscription)
        if not ready:
            return
        cursors: List[Tuple[str, Optional[str]]] = [(s.conv_id, s.after) for s in ready]
        pages = await self._outbox.read_many(cursors, count=PAGE)
        for subscription, entries in zip(ready, pages, strict=True):
            subscription.put_entries(entries)
            if len(entries) >= PAGE:
                self.wake(subscription)  # more after this page


def _channels(conv_id: str) -> Tuple[str, str]:
    return keys.outbox_appended(conv_id), keys.signals(conv_id)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _backoff(failures: int) -> float:
    first, longest = RETRY_SECONDS
    return min(longest, first * 2 ** (failures - 1))


async def _reset(pubsub: PubSub) -> None:
    """Close a pub/sub connection, whatever state it is in (Redis may be gone)."""
    try:
        await pubsub.reset()
    except Exception as exc:  # noqa: BLE001 - closing a dead connection may fail too
        logger.debug("delivery hub: closing the pub/sub connection: %s", exc)
