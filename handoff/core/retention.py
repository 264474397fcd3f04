"""How long customer data is kept, and one customer's data exported or erased on request.

What the product holds about a customer lives in several places: the handoff records
(conversation record, transcript, notes, files, outbox; :mod:`handoff.core.keys`), the
tickets (:mod:`handoff.core.tickets`), the customer links (:mod:`handoff.core.customers`),
the lifecycle events kept for webhooks, and, outside the core, Rasa's trackers and the
admins' review items. The core may not import those last two (they belong to
``bot.retraining``), so they come in as :class:`ConversationData` parts that the service
composes (``bot/retraining/privacy.py``): the core decides *what* goes, each part knows
*where* its data is.

A conversation is swept once nothing happened in it for ``customer_data_days``: the
newest of its record's last change, its customer link, its parts' activity (the tracker's
last event) and its tickets' last change. A ticket is swept on the same rule.

Metric samples (:mod:`handoff.core.metrics`) are not customer data: they hold a
conversation id and figures (a wait, a rating), expire with ``metrics_retention_days``,
and once the conversation is gone the id leads to no one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Protocol, Sequence, Set

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from handoff.core import keys
from handoff.core.conversation import Conversation
from handoff.core.customers import CustomerProfiles, check_email, normalize_email
from handoff.core.errors import NotFound

logger = logging.getLogger(__name__)

DAY = 86400
_BATCH = 200
_STREAM_PAGE = 1000


class ConversationData(Protocol):
    """Data another part of the product keeps per conversation (Rasa's trackers, review items).

    Attributes:
        name: What the export and the erasure counts call it (``trackers``).
    """

    name: str

    async def last_activity(self) -> Dict[str, float]:
        """Conversation id -> the time of the newest thing this part holds of it."""

    async def export(self, conv_ids: Sequence[str]) -> List[Dict[str, Any]]:
        """What this part holds about these conversations, JSON-ready."""

    async def erase(self, conv_ids: Sequence[str]) -> int:
        """Delete what this part holds about these conversations; how many things went."""


@dataclass
class Erased:
    """What an erasure or a sweep deleted (each count is of things that existed)."""

    conversations: int = 0
    tickets: int = 0
    links: int = 0
    events: int = 0
    mails: int = 0
    parts: Dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready form (the admin API's erasure answer)."""
        return {
            "conversations": self.conversations,
            "tickets": self.tickets,
            "links": self.links,
            "events": self.events,
            "mails": self.mails,
            **self.parts,
        }


class Retention:
    """Sweeps customer data older than the retention period; exports or erases one customer.

    Args:
        redis: An asyncio Redis client (decoded replies).
        customers: The customer links.
        tickets: The ticket desk (``for_customer``, ``get``, ``thread``, ``notes``,
            ``delete``); None when there are no tickets.
        parts: The data kept outside the core (see :class:`ConversationData`).
        customer_data_days: Data idle for this long is swept.
        sweep_interval_seconds: How often :meth:`run` sweeps (one instance at a time).
        clock: Returns the current epoch time (tests pass a fake one).
    """

    def __init__(
        self,
        redis: Redis,
        customers: CustomerProfiles,
        *,
        tickets: Any = None,
        parts: Iterable[ConversationData] = (),
        customer_data_days: int = 365,
        sweep_interval_seconds: float = 3600,
        clock: Callable[[], float] = time.time,
    ):
        """Keep the collaborators; nothing is read yet."""
        self._redis = redis
        self._customers = customers
        self._tickets = tickets
        self._parts = list(parts)
        self._days = customer_data_days
        self._interval = sweep_interval_seconds
        self._clock = clock
        self._instance = secrets.token_hex(8)

    # ---- one customer, on request ----------------------------------------------------------

    async def export(self, email: str) -> Dict[str, Any]:
        """Everything held about the customer owning ``email``, JSON-ready.

        Conversations come with transcript, notes, files (their metadata; the files
        themselves download from the conversation's attachment route) and outbox; tickets
        with thread and notes; then every part's data (tracker events, review items).

        Raises:
            InvalidInput: not an email address.
        """
        customer = self._customers.key_for(check_email(email))
        tickets = await self._customers.tickets_of(customer)
        conv_ids = await self._conversations_of(customer, tickets)
        profile = await self._customers.profile(customer)
        data: Dict[str, Any] = {
            "customer": customer,
            "order_ids": profile["order_ids"],
            "ratings": profile["ratings"],
            "conversations": [await self._export_conversation(c) for c in conv_ids],
            "tickets": [await self._export_ticket(t) for t in tickets],
            "mails": [
                mail
                for _, mail in await self._mails_to(normalize_email(email), {t.id for t in tickets})
            ],
        }
        for part in self._parts:
            data[part.name] = await part.export(conv_ids)
        return data

    async def erase(self, email: str) -> Erased:
        """Delete everything held about the customer owning ``email`` (idempotent).

        Raises:
            InvalidInput: not an email address.
        """
        customer = self._customers.key_for(check_email(email))
        tickets = await self._customers.tickets_of(customer)
        conv_ids = await self._conversations_of(customer, tickets)
        erased = await self.erase_conversations(conv_ids)
        erased.tickets += await self._delete_tickets([t.id for t in tickets])
        erased.events += await self._drop_events(set(), {t.id for t in tickets})
        erased.mails += await self._drop_mails(normalize_email(email), {t.id for t in tickets})
        await self._customers.forget(customer)
        logger.info(
            "erased customer %s: %s", customer[:12], json.dumps(erased.to_dict(), sort_keys=True)
        )
        return erased

    async def erase_conversations(self, conv_ids: Sequence[str]) -> Erased:
        """Delete every trace of these conversations, in the core and in every part."""
        conv_ids = [c for c in dict.fromkeys(conv_ids) if keys.check_id(c)]
        erased = Erased(parts={part.name: 0 for part in self._parts})
        for start in range(0, len(conv_ids), _BATCH):
            batch = conv_ids[start : start + _BATCH]
            erased.links += await self._customers.unlink(batch)
            async with self._redis.pipeline(transaction=True) as pipe:
                for conv_id in batch:
                    pipe.delete(keys.conversation(conv_id))
                    pipe.delete(*_conversation_keys(conv_id))
                    pipe.zrem(keys.QUEUE, conv_id)
                    pipe.zrem(keys.TICKETS, conv_id)  # tickets of conversations, before #17
                results = await pipe.execute()
            erased.conversations += sum(results[0::4])
            for part in self._parts:
                erased.parts[part.name] += await part.erase(batch)
        erased.events += await self._drop_events(set(conv_ids), set())
        return erased

    # ---- the retention period --------------------------------------------------------------

    async def sweep(self, now: Optional[float] = None) -> Erased:
        """Delete the conversations and tickets in which nothing happened for the period."""
        now = self._clock() if now is None else now
        cutoff = now - self._days * DAY
        activity = await self._conversation_activity()
        stale_tickets: List[Any] = []
        for ticket in await self._all_tickets():
            changed = float(ticket.updated_at or ticket.created_at or 0)
            if ticket.conversation_id:
                # The conversation stays as long as its ticket is alive, and the other way round.
                _newest(activity, ticket.conversation_id, changed)
            if changed < cutoff:
                stale_tickets.append(ticket)
        stale = {c for c, at in activity.items() if at < cutoff}
        erased = await self.erase_conversations(sorted(stale))
        doomed = [
            t.id for t in stale_tickets if not t.conversation_id or t.conversation_id in stale
        ]
        erased.tickets += await self._delete_tickets(doomed)
        # The durable event log is a buffer for webhook receivers, the failed mails a list
        # to look into: neither keeps anything older than the period.
        oldest = int(cutoff * 1000)
        erased.events += await self._redis.xtrim(
            keys.WEBHOOK_EVENTS, minid=oldest, approximate=False
        )
        erased.mails += await self._redis.xtrim(keys.MAIL_FAILED, minid=oldest, approximate=False)
        return erased

    async def sweep_if_due(self, now: Optional[float] = None) -> Optional[Erased]:
        """Sweep unless another instance did within the interval (None then).

        The lock (``SET NX PX``) is held for one interval and never released: it also
        says "swept recently", so N instances sweep once per interval between them.
        """
        acquired = await self._redis.set(
            keys.RETENTION_LOCK, self._instance, nx=True, px=int(self._interval * 1000)
        )
        if not acquired:
            return None
        return await self.sweep(now)

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep when due until ``stop`` is set (the handoff service's background task)."""
        while not stop.is_set():
            try:
                erased = await self.sweep_if_due()
                if erased is not None:
                    logger.info("retention sweep: %s", json.dumps(erased.to_dict(), sort_keys=True))
            except Exception:  # noqa: BLE001 - a failed sweep is retried; the service goes on
                logger.exception("retention sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
            except asyncio.TimeoutError:
                continue

    # ---- internals -------------------------------------------------------------------------

    async def _conversations_of(self, customer: str, tickets: Sequence[Any]) -> List[str]:
        linked = await self._customers.conversation_ids(customer)
        from_tickets = [t.conversation_id for t in tickets if t.conversation_id]
        return list(dict.fromkeys([*linked, *from_tickets]))

    async def _export_conversation(self, conv_id: str) -> Dict[str, Any]:
        raw = await self._redis.hgetall(keys.conversation(conv_id))
        transcript = await self._redis.lrange(keys.transcript(conv_id), 0, -1)
        notes = await self._redis.lrange(keys.notes(conv_id), 0, -1)
        files = await self._redis.hgetall(keys.attachments(conv_id))
        outbox = await self._redis.xrange(keys.outbox(conv_id))
        return {
            "id": conv_id,
            "record": Conversation.from_hash(raw).to_dict() if raw else None,
            "transcript": [json.loads(m) for m in transcript],
            "notes": [json.loads(n) for n in notes],
            "attachments": [json.loads(v) for _, v in sorted(files.items())],
            "outbox": [{"id": i, **_decoded(f)} for i, f in outbox],
        }

    async def _export_ticket(self, ticket: Any) -> Dict[str, Any]:
        return {
            **ticket.to_dict(),
            "thread": await self._tickets.thread(ticket.id),
            "notes": await self._tickets.notes(ticket.id),
        }

    async def _delete_tickets(self, ticket_ids: Sequence[str]) -> int:
        if self._tickets is None:
            return 0
        deleted = 0
        for ticket_id in ticket_ids:
            try:
                await self._tickets.delete(ticket_id)
            except NotFound:
                continue  # gone already: erasing twice is fine
            deleted += 1
        return deleted

    async def _all_tickets(self) -> List[Any]:
        if self._tickets is None:
            return []
        found = []
        for ticket_id in await self._redis.zrange(keys.TICKETS, 0, -1):
            try:
                found.append(await self._tickets.get(ticket_id))
            except NotFound:
                continue  # a conversation id from before tickets had records, or just deleted
        return found

    async def _conversation_activity(self) -> Dict[str, float]:
        """Every conversation anything is held about -> the time of the newest of it."""
        activity: Dict[str, float] = {}
        prefix = keys.conversation("")
        ids = [k[len(prefix) :] async for k in self._redis.scan_iter(match=f"{prefix}*", count=500)]
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            async with self._redis.pipeline(transaction=False) as pipe:
                for conv_id in batch:
                    pipe.hmget(keys.conversation(conv_id), ["updated_at", "created_at"])
                rows = await pipe.execute()
            for conv_id, (updated, created) in zip(batch, rows, strict=True):
                _newest(activity, conv_id, _number(updated) or _number(created) or 0.0)
        for conv_id, at in (await self._customers.links()).items():
            _newest(activity, conv_id, at)
        for part in self._parts:
            for conv_id, at in (await part.last_activity()).items():
                _newest(activity, conv_id, at)
        return activity

    async def _drop_events(self, conv_ids: Set[str], ticket_ids: Set[str]) -> int:
        """Delete the logged lifecycle events of these conversations and tickets."""
        if not conv_ids and not ticket_ids:
            return 0

        def about(event: Dict[str, Any]) -> bool:
            return event.get("conversation_id") in conv_ids or event.get("ticket_id") in ticket_ids

        doomed = [
            i for i, f in await self._entries(keys.WEBHOOK_EVENTS) if about(_json(f, "event"))
        ]
        await self._delete_entries(keys.WEBHOOK_EVENTS, doomed)
        # Deliveries given up on quote their event.
        dropped = 0
        for raw in await self._redis.lrange(keys.WEBHOOK_FAILED, 0, -1):
            failed = _json({"x": raw}, "x")
            if about(failed) or about(
                failed.get("event") if isinstance(failed.get("event"), dict) else {}
            ):
                dropped += await self._redis.lrem(keys.WEBHOOK_FAILED, 0, raw)
        return len(doomed) + dropped

    async def _mails_to(self, email: str, ticket_ids: Set[str]) -> List[Any]:
        """(where, mail) of every queued, retried or failed mail to ``email`` or on its tickets."""

        def about(mail: Dict[str, Any]) -> bool:
            to = mail.get("to")
            return (isinstance(to, str) and normalize_email(to) == email) or (
                mail.get("ticket_id") in ticket_ids
            )

        found = []
        for stream in (keys.MAIL_OUTBOX, keys.MAIL_FAILED):
            for entry_id, fields in await self._entries(stream):
                mail = _json(fields, "email")
                if about(mail):
                    found.append(((stream, entry_id), mail))
        for member in await self._redis.zrange(keys.MAIL_RETRY, 0, -1):
            retry = _json({"x": member}, "x")
            mail = retry.get("email") if isinstance(retry.get("email"), dict) else {}
            if about(mail):
                found.append(((keys.MAIL_RETRY, member), mail))
        return found

    async def _drop_mails(self, email: str, ticket_ids: Set[str]) -> int:
        """Delete the queued, retried and failed mails to ``email`` or on its tickets."""
        found = [where for where, _ in await self._mails_to(email, ticket_ids)]
        for stream in (keys.MAIL_OUTBOX, keys.MAIL_FAILED):
            await self._delete_entries(stream, [i for s, i in found if s == stream])
        retries = [m for s, m in found if s == keys.MAIL_RETRY]
        if retries:
            await self._redis.zrem(keys.MAIL_RETRY, *retries)
        return len(found)

    async def _entries(self, stream: str) -> List[Any]:
        """Every entry of a stream, oldest first (read a page at a time)."""
        entries: List[Any] = []
        start = "-"
        while True:
            page = await self._redis.xrange(stream, min=start, count=_STREAM_PAGE)
            entries += page
            if len(page) < _STREAM_PAGE:
                return entries
            start = "(" + page[-1][0]

    async def _delete_entries(self, stream: str, entry_ids: Sequence[str]) -> None:
        """XDEL entries, acknowledged first in every consumer group.

        A deleted entry still pending in a group would come back to its consumer as an
        entry without fields; acknowledged, it never comes back.
        """
        if not entry_ids:
            return
        try:
            groups = [g["name"] for g in await self._redis.xinfo_groups(stream)]
        except ResponseError:
            groups = []  # no such stream
        for begin in range(0, len(entry_ids), _STREAM_PAGE):
            page = entry_ids[begin : begin + _STREAM_PAGE]
            async with self._redis.pipeline(transaction=True) as pipe:
                for group in groups:
                    pipe.xack(stream, group, *page)
                pipe.xdel(stream, *page)
                await pipe.execute()


def _conversation_keys(conv_id: str) -> List[str]:
    """Every key of one conversation but its record (deleted first, so counted alone)."""
    return [
        keys.transcript(conv_id),
        keys.notes(conv_id),
        keys.outbox(conv_id),
        keys.attachments(conv_id),
        keys.attachment_data(conv_id),
        keys.conversation_customer(conv_id),
        keys.conversation_ticket(conv_id),
        keys.followup(conv_id),
    ]


def _newest(activity: Dict[str, float], conv_id: str, at: float) -> None:
    activity[conv_id] = max(at, activity.get(conv_id, at))


def _number(raw: Optional[str]) -> Optional[float]:
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return float(value) if isinstance(value, (int, float)) else None


def _json(fields: Dict[str, Any], name: str) -> Dict[str, Any]:
    """The JSON object in one field of a stream entry ({} when it is not one)."""
    try:
        value = json.loads(fields.get(name) or "{}")
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _decoded(fields: Dict[str, Any]) -> Dict[str, Any]:
    return {k: _json_or_text(v) for k, v in fields.items()}


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value
