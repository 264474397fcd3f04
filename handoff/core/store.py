"""Conversation records, the CSR queue and the handoff metrics, kept in Redis.

Every change to a conversation goes through :meth:`HandoffStore._mutate`: it
WATCHes the record, asks :mod:`handoff.core.lifecycle` whether the change is legal,
and writes the record, the queue, the metrics and the live event in one
MULTI/EXEC. If another client changed the record in between, EXEC fails and
the change is re-evaluated against the new state. That is what makes two
simultaneous claims end with exactly one winner: the loser's retry sees
``assigned`` and gets :class:`~handoff.core.errors.ClaimConflict`.
"""

from __future__ import annotations

import json
import re
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator, Callable, Dict, List, Mapping, Optional, Tuple

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from handoff.core import events, keys, lifecycle, metrics, process_metrics, stats
from handoff.core.conversation import (
    PRIORITIES,
    Conversation,
    check_context,
    check_priority,
    check_transcript,
    make_message,
)
from handoff.core.errors import (
    ClaimConflict,
    ConversationNotFound,
    InvalidInput,
    InvalidTransition,
    NotAssignee,
)
from handoff.core.event_feed import EventFeed
from handoff.core.lifecycle import State
from handoff.core.transactions import Writer, watched

_RANK = {p: i for i, p in enumerate(PRIORITIES)}
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
_MAX_RETRIES = 50
RESOLUTION_CHARS = 64  # a tag like refund_issued, not a sentence
# Queue score = priority band + enqueue time in ms; ms timestamps (~1.7e12) stay
# far below the band width, and the sum stays exact in a double (< 2**53).
_BAND = 1e13

Change = Callable[[Optional[Conversation]], Tuple[Conversation, Writer]]


@dataclass(frozen=True)
class _Request:
    """A validated escalation, ready to apply to the record."""

    reason: str
    priority: str
    confidence: Optional[float]
    context: Dict[str, Any]
    transcript: Optional[List[Dict[str, Any]]]
    at: float
    position: int


@dataclass(frozen=True)
class Escalation:
    """What the customer is told after an escalation.

    Attributes:
        conversation: The record after the escalation.
        position: 1-based position in the queue (0 if a CSR already claimed it).
        estimated_wait_seconds: Expected wait, from recent waits.
        already_queued: The conversation was waiting already; nothing was re-queued.
    """

    conversation: Conversation
    position: int
    estimated_wait_seconds: int
    already_queued: bool = False


class HandoffStore:
    """Conversation records, the queue and live events in Redis.

    The only code that touches those keys; metric samples go through
    :mod:`handoff.core.metrics`, the outbox, accounts and tickets
    (:mod:`handoff.core.tickets`) have their own modules.

    Args:
        redis: An asyncio Redis client.
        priorities: Escalation reason -> priority.
        default_priority: Priority for reasons not in ``priorities``.
        default_wait_seconds: Wait per queue position assumed without history.
        record_ttl_seconds: Records expire this long after their last change.
        metrics_retention_seconds: Metric samples older than this are dropped.
        transcript_limit: Newest transcript entries kept per conversation.
        clock: Returns the current epoch time (tests pass a fake one).
    """

    def __init__(
        self,
        redis: Redis,
        *,
        priorities: Optional[Mapping[str, str]] = None,
        default_priority: str = "normal",
        default_wait_seconds: float = 120,
        record_ttl_seconds: int = 30 * 86400,
        metrics_retention_seconds: int = 90 * 86400,
        transcript_limit: int = 1000,
        clock: Callable[[], float] = time.time,
    ):
        """Create a store over one Redis client."""
        self._redis = redis
        self._priorities = dict(priorities or {})
        self._default_priority = check_priority(default_priority)
        self._default_wait = default_wait_seconds
        self._ttl = record_ttl_seconds
        self._retention = metrics_retention_seconds
        self._transcript_limit = transcript_limit
        self._clock = clock
        # One subscription per process for every open console (see handoff.core.event_feed).
        self._feed = EventFeed(redis, keys.EVENTS)

    # ---- reading -------------------------------------------------------------------------

    async def get(self, conv_id: str) -> Conversation:
        """The record of one conversation.

        Raises:
            ConversationNotFound: no record (never escalated, or expired).
        """
        return await read_conversation(self._redis, conv_id)

    async def transcript(self, conv_id: str) -> List[Dict[str, Any]]:
        """The transcript, oldest first."""
        return [json.loads(m) for m in await self._redis.lrange(keys.transcript(conv_id), 0, -1)]

    async def notes(self, conv_id: str) -> List[Dict[str, Any]]:
        """Internal CSR notes, oldest first."""
        return [json.loads(n) for n in await self._redis.lrange(keys.notes(conv_id), 0, -1)]

    async def queue(self) -> List[Conversation]:
        """Waiting conversations: highest priority first, then longest waiting first."""
        ids = await self._redis.zrange(keys.QUEUE, 0, -1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for conv_id in ids:
                pipe.hgetall(keys.conversation(conv_id))
            records = await pipe.execute()
        found = [Conversation.from_hash(r) for r in records if r]
        stale = [i for i, r in zip(ids, records, strict=True) if not r]
        if stale:
            # A record expired while queued: drop it so the queue heals itself.
            await self._redis.zrem(keys.QUEUE, *stale)
        return found

    async def tickets(self) -> List[str]:
        """Ticket ids, newest first (the tickets: :class:`handoff.core.tickets.TicketDesk`).

        ``handoff:tickets`` indexes tickets, not conversations: a conversation left as a
        ticket gets a ticket record of its own (``TicketDesk.open_from_conversation``).
        """
        return await self._redis.zrevrange(keys.TICKETS, 0, -1)

    @asynccontextmanager
    async def live_events(self) -> AsyncIterator[AsyncIterator[Dict[str, Any]]]:
        """Subscribe to live console events for the duration of the ``async with``.

        Yields:
            An async iterator of event dicts (see ``_publish``). Pub/sub is
            fire-and-forget: a console that reconnects should re-read the queue.
        """
        async with self._feed.listen() as feed:
            yield feed

    # ---- the bot's side ------------------------------------------------------------------

    async def note_conversation_started(self, conv_id: str, at: Optional[float] = None) -> bool:
        """Count a conversation for the containment rate (idempotent).

        Returns:
            True the first time this conversation is seen.
        """
        now = at if at is not None else self._clock()
        async with self._redis.pipeline(transaction=True) as pipe:
            metrics.started(pipe, _checked(conv_id), now)
            metrics.trim(pipe, now, self._retention)
            added, *_ = await pipe.execute()
        return bool(added)

    async def escalate(
        self,
        conv_id: str,
        reason: str,
        *,
        confidence: Optional[float] = None,
        context: Optional[Mapping[str, Any]] = None,
        priority: Optional[str] = None,
    ) -> Escalation:
        """Put a conversation in the CSR queue.

        Args:
            conv_id: Rasa's conversation id.
            reason: Why (``request_human``, ``nlu_fallback``, ``action_failed``, …).
            confidence: The confidence that triggered it.
            context: ``slots``, ``order``, ``page_url``, ``locale``, ``summary`` and
                optionally ``transcript`` (replaces the stored transcript: the bot's
                tracker is the complete record).
            priority: Overrides the priority configured for ``reason``.

        Raises:
            InvalidTransition: a CSR has the conversation already.
            InvalidInput: bad reason, priority or context.
        """
        request = await self._escalation_request(conv_id, reason, confidence, context, priority)
        already = False

        def change(current: Optional[Conversation]) -> Tuple[Conversation, Writer]:
            nonlocal already
            conv = current or Conversation(id=conv_id, created_at=request.at)
            already = conv.state is State.QUEUED
            return self._bump(conv, request) if already else self._enqueue(conv, request)

        conv = await self._mutate(conv_id, change, create=True)
        if not already:
            process_metrics.count_escalation(reason, self._priorities)
        rank = await self._redis.zrank(keys.QUEUE, conv_id)
        position = 0 if rank is None else rank + 1
        recent = await metrics.recent_waits_per_position(self._redis)
        wait = stats.estimate_wait(recent, position, self._default_wait)
        return Escalation(conv, position, wait if position else 0, already)

    async def _escalation_request(
        self,
        conv_id: str,
        reason: Any,
        confidence: Optional[float],
        context: Optional[Mapping[str, Any]],
        priority: Optional[str],
    ) -> "_Request":
        _checked(conv_id)
        if not isinstance(reason, str) or not 0 < len(reason) <= 64:
            raise InvalidInput("reason must be a string of 1-64 characters")
        context = check_context(context)
        transcript = None
        if "transcript" in context:
            transcript = check_transcript(context.pop("transcript"))
        priority = check_priority(priority or self._priorities.get(reason, self._default_priority))
        now = self._clock()
        # Outside the transaction on purpose: it only feeds the wait estimate, and
        # watching the whole queue would make every escalation contend with every claim.
        ahead = await self._redis.zcount(keys.QUEUE, "-inf", f"({_score(priority, now)}")
        return _Request(reason, priority, confidence, context, transcript, now, ahead + 1)

    def _enqueue(self, conv: Conversation, request: "_Request") -> Tuple[Conversation, Writer]:
        # A new episode: whatever happened in an earlier one (claim, close,
        # rating) must not leak into this episode's timestamps and metrics.
        lifecycle.escalate(conv.state)
        now = request.at
        updated = replace(
            conv,
            state=State.QUEUED,
            priority=request.priority,
            reason=request.reason,
            confidence=request.confidence,
            context=request.context or conv.context,
            assigned_to=None,
            waiting_since=now,
            claimed_at=None,
            first_csr_reply_at=None,
            closed_at=None,
            resolution=None,
            csat=None,
            ticket_email=None,
            escalations=conv.escalations + 1,
            position_at_escalation=request.position,
            updated_at=now,
        )

        def write(pipe: Pipeline) -> None:
            pipe.zadd(keys.QUEUE, {conv.id: _score(request.priority, now)})
            if request.transcript is not None:
                pipe.delete(keys.transcript(conv.id))
                if request.transcript:
                    pipe.rpush(keys.transcript(conv.id), *map(json.dumps, request.transcript))
            metrics.escalated(pipe, conv.id, request.reason, now)
            metrics.trim(pipe, now, self._retention)
            self._publish(pipe, "conversation.escalated", updated, now, queue_changed=True)

        return updated, write

    def _bump(self, conv: Conversation, request: "_Request") -> Tuple[Conversation, Writer]:
        # Asking again while waiting never re-queues (that would reset the wait),
        # but a more urgent reason (e.g. frustration) raises the priority.
        higher = max(conv.priority, request.priority, key=_RANK.__getitem__)
        updated = replace(
            conv,
            priority=higher,
            context={**conv.context, **request.context},
            updated_at=request.at,
        )

        def write(pipe: Pipeline) -> None:
            pipe.zadd(keys.QUEUE, {conv.id: _score(higher, conv.waiting_since or request.at)})
            self._publish(
                pipe,
                "conversation.updated",
                updated,
                request.at,
                queue_changed=higher != conv.priority,
            )

        return updated, write

    async def record_customer_message(
        self,
        conv_id: str,
        text: str,
        *,
        intent: Optional[str] = None,
        confidence: Optional[float] = None,
        timestamp: Optional[float] = None,
    ) -> Dict[str, Any]:
        """Append what the customer wrote (with Rasa's intent) and tell the console.

        Raises:
            ConversationNotFound: the conversation never escalated.
        """
        return await self._append(
            conv_id, "customer", text, timestamp, intent=intent, confidence=confidence
        )

    async def record_customer_attachment(
        self, conv_id: str, text: str, attachment: Mapping[str, Any]
    ) -> Dict[str, Any]:
        """Append a file the customer sent (``attachment``: its metadata) and tell the console.

        Only while a person has the conversation (queued or assigned): the bot cannot read
        files, and only CSRs download them.

        Raises:
            ConversationNotFound: the conversation never escalated.
            InvalidTransition: no person has the conversation (``attachments_unavailable``).
        """
        now = self._clock()
        message = {**make_message("customer", text, now), "attachment": dict(attachment)}

        def change(conv: Optional[Conversation]) -> Tuple[Conversation, Writer]:
            if conv.state not in (State.QUEUED, State.ASSIGNED):
                raise InvalidTransition(
                    "files can be shared once our support team has the conversation",
                    code="attachments_unavailable",
                )
            updated = replace(conv, updated_at=now)

            def write(pipe: Pipeline) -> None:
                self._push_transcript(pipe, conv_id, message)
                self._publish(pipe, "customer.message", updated, now, message=message)

            return updated, write

        await self._mutate(conv_id, change)
        return message

    async def abandon(self, conv_id: str) -> Conversation:
        """The customer left the queue (closed the page, said never mind)."""
        return await self._simple(conv_id, lifecycle.abandon, "conversation.abandoned")

    async def leave_ticket(self, conv_id: str, email: str) -> Conversation:
        """No CSR came; the customer left an email address for follow-up.

        Raises:
            InvalidInput: not an email address.
        """
        if not isinstance(email, str) or not _EMAIL.match(email):
            raise InvalidInput("a valid email address is required")
        return await self._simple(
            conv_id, lifecycle.to_ticket, "conversation.ticket", ticket_email=email
        )

    async def reopen_bot(self, conv_id: str) -> Conversation:
        """A customer whose conversation ended writes again; the bot has them."""
        return await self._simple(conv_id, lifecycle.reopen_bot, "conversation.reopened")

    async def set_csat(self, conv_id: str, score: int) -> Conversation:
        """Record the customer's 1–5 rating of the closed conversation (a re-rating replaces it).

        Raises:
            InvalidInput: not an integer from 1 to 5.
            InvalidTransition: the conversation was not closed by a CSR.
        """
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidInput("rating must be an integer from 1 to 5")
        now = self._clock()

        def change(conv: Optional[Conversation]) -> Tuple[Conversation, Writer]:
            if conv.closed_at is None:
                raise InvalidTransition("only a closed conversation can be rated")
            updated = replace(conv, csat=score, updated_at=now)

            def write(pipe: Pipeline) -> None:
                metrics.rated(
                    pipe, conv_id, conv.closed_at, conv.csat, score, now, **_sample_tags(conv)
                )
                self._publish(pipe, "conversation.rated", updated, now)

            return updated, write

        return await self._mutate(conv_id, change)

    # ---- the CSR's side ------------------------------------------------------------------

    async def claim(self, conv_id: str, csr: str) -> Conversation:
        """Give a queued conversation to ``csr``; atomic across clients and instances.

        Raises:
            ClaimConflict: another CSR claimed it first.
            InvalidTransition: it is not waiting in the queue.
        """
        now = self._clock()

        def change(conv: Optional[Conversation]) -> Tuple[Conversation, Writer]:
            if conv.state is State.ASSIGNED:
                raise ClaimConflict(f"conversation already claimed by {conv.assigned_to}")
            lifecycle.claim(conv.state)
            updated = replace(
                conv, state=State.ASSIGNED, assigned_to=csr, claimed_at=now, updated_at=now
            )

            def write(pipe: Pipeline) -> None:
                pipe.zrem(keys.QUEUE, conv_id)
                wait = max(0.0, now - (conv.waiting_since or now))
                position = conv.position_at_escalation or 1
                tags = _sample_tags(updated)
                metrics.waited(pipe, conv_id, wait, position, now, **tags)
                self._publish(pipe, "conversation.claimed", updated, now, queue_changed=True)

            return updated, write

        return await self._mutate(conv_id, change)

    async def transfer(
        self, conv_id: str, to_csr: str, *, by: str, admin: bool = False
    ) -> Conversation:
        """Hand an assigned conversation to another CSR.

        Raises:
            NotAssignee: ``by`` does not have it and is not an admin.
            InvalidTransition: not assigned, or already with ``to_csr``.
        """
        now = self._clock()

        def change(conv: Optional[Conversation]) -> Tuple[Conversation, Writer]:
            _check_actor(conv, by, admin)
            lifecycle.transfer(conv.state, conv.assigned_to, to_csr)
            updated = replace(conv, assigned_to=to_csr, updated_at=now)
            return updated, self._publisher(
                "conversation.transferred", updated, now, from_csr=conv.assigned_to
            )

        return await self._mutate(conv_id, change)

    async def release(self, conv_id: str, *, by: str, admin: bool = False) -> Conversation:
        """Hand an assigned conversation back to the bot.

        Raises:
            NotAssignee: ``by`` does not have it and is not an admin.
            InvalidTransition: it is not assigned.
        """
        return await self._simple(
            conv_id,
            lifecycle.release,
            "conversation.released",
            by=by,
            admin=admin,
            assigned_to=None,
        )

    async def close(
        self, conv_id: str, resolution: str, *, by: str, admin: bool = False
    ) -> Conversation:
        """End a conversation with a resolution tag (assigned, or queued e.g. for spam).

        Raises:
            InvalidInput: missing resolution tag.
            NotAssignee: someone else has it and ``by`` is not an admin.
            InvalidTransition: neither assigned nor queued.
        """
        if not isinstance(resolution, str) or not 0 < len(resolution.strip()) <= RESOLUTION_CHARS:
            raise InvalidInput(f"resolution must be a tag of 1-{RESOLUTION_CHARS} characters")
        now = self._clock()
        return await self._simple(
            conv_id,
            lifecycle.close,
            "conversation.closed",
            by=by,
            admin=admin,
            closed_at=now,
            resolution=resolution.strip(),
        )

    async def add_note(self, conv_id: str, author: str, text: str) -> Dict[str, Any]:
        """Attach an internal note (never shown to the customer).

        Raises:
            InvalidInput: empty text.
        """
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("note text must not be empty")
        now = self._clock()
        note = {"author": author, "text": text, "timestamp": now}

        def change(conv: Optional[Conversation]) -> Tuple[Conversation, Writer]:
            updated = replace(conv, updated_at=now)

            def write(pipe: Pipeline) -> None:
                pipe.rpush(keys.notes(conv_id), json.dumps(note))
                self._publish(pipe, "note.added", updated, now, note=note)

            return updated, write

        await self._mutate(conv_id, change)
        return note

    async def record_csr_message(
        self, conv_id: str, csr: str, text: str, *, agent: Optional[str] = None
    ) -> Dict[str, Any]:
        """Append a CSR's message to the transcript; the first one stamps the reply time.

        Args:
            conv_id: The conversation.
            csr: Username of the sender (must be the assignee).
            text: The message.
            agent: Display name shown to the customer (default: ``csr``).

        Raises:
            InvalidTransition: the conversation is not assigned.
            NotAssignee: it is assigned to someone else.
        """
        now = self._clock()
        message = make_message("csr", text, now, agent=agent or csr)

        def change(conv: Optional[Conversation]) -> Tuple[Conversation, Writer]:
            if conv.state is not State.ASSIGNED:
                raise InvalidTransition(f"cannot message a conversation that is {conv.state.value}")
            _check_actor(conv, csr, admin=False)
            first = conv.first_csr_reply_at is None
            updated = replace(
                conv, first_csr_reply_at=now if first else conv.first_csr_reply_at, updated_at=now
            )

            def write(pipe: Pipeline) -> None:
                self._push_transcript(pipe, conv_id, message)
                if first:
                    seconds = max(0.0, now - (conv.waiting_since or now))
                    metrics.first_reply(pipe, conv_id, seconds, now, **_sample_tags(conv))
                self._publish(pipe, "csr.message", updated, now, message=message)

            return updated, write

        await self._mutate(conv_id, change)
        return message

    async def record_ticket_reply(
        self, conv_id: str, csr: str, text: str, *, agent: Optional[str] = None
    ) -> Dict[str, Any]:
        """Append a CSR's answer to the conversation's ticket to its transcript, in any state.

        Unlike :meth:`record_csr_message`, the conversation need not be assigned: a ticket
        is answered while the chat is over (``ticket``, ``closed``...). No reply-time
        metric either: tickets have their own (:func:`metrics.ticket_first_reply`).

        Raises:
            ConversationNotFound: no record (expired).
        """
        return await self._append(conv_id, "csr", text, None, agent=agent or csr)

    # ---- metrics -------------------------------------------------------------------------

    async def metrics(self, since: Optional[float] = None) -> Dict[str, Any]:
        """Every figure since ``since``, without buckets (see :func:`metrics.summary`)."""
        return await metrics.summary(self._redis, since)

    # ---- internals -----------------------------------------------------------------------

    async def _mutate(self, conv_id: str, change: Change, *, create: bool = False) -> Conversation:
        """Read, check and write one conversation atomically (optimistic lock on its hash)."""
        key = keys.conversation(_checked(conv_id))

        async def decide(pipe: Pipeline) -> Tuple[Conversation, Writer]:
            current = await self._load(pipe, conv_id)
            if current is None and not create:
                raise ConversationNotFound(conv_id)
            updated, write = change(current)

            def write_all(pipe: Pipeline) -> None:
                pipe.hset(key, mapping=updated.to_hash())
                write(pipe)
                for k in (
                    key,
                    keys.transcript(conv_id),
                    keys.notes(conv_id),
                    keys.attachments(conv_id),
                    keys.attachment_data(conv_id),
                ):
                    pipe.expire(k, self._ttl)

            return updated, write_all

        return await watched(
            self._redis,
            key,
            decide,
            retries=_MAX_RETRIES,
            busy=f"conversation {conv_id!r} is changing too fast; try again",
        )

    async def _simple(
        self,
        conv_id: str,
        move: Callable[[State], State],
        event: str,
        *,
        by: Optional[str] = None,
        admin: bool = False,
        **changes: Any,
    ) -> Conversation:
        """A transition whose only side effects are leaving the queue and a live event."""
        now = self._clock()

        def change(conv: Optional[Conversation]) -> Tuple[Conversation, Writer]:
            if by is not None:
                _check_actor(conv, by, admin)
            updated = replace(conv, state=move(conv.state), updated_at=now, **changes)
            was_queued = conv.state is State.QUEUED

            def write(pipe: Pipeline) -> None:
                if was_queued:
                    pipe.zrem(keys.QUEUE, conv_id)
                self._publish(pipe, event, updated, now, queue_changed=was_queued)

            return updated, write

        return await self._mutate(conv_id, change)

    async def _append(
        self, conv_id: str, sender: str, text: str, timestamp: Optional[float], **extra: Any
    ) -> Dict[str, Any]:
        now = self._clock()
        message = make_message(sender, text, timestamp or now, **extra)

        def change(conv: Optional[Conversation]) -> Tuple[Conversation, Writer]:
            updated = replace(conv, updated_at=now)

            def write(pipe: Pipeline) -> None:
                self._push_transcript(pipe, conv_id, message)
                self._publish(pipe, f"{sender}.message", updated, now, message=message)

            return updated, write

        await self._mutate(conv_id, change)
        return message

    def _push_transcript(self, pipe: Pipeline, conv_id: str, message: Dict[str, Any]) -> None:
        pipe.rpush(keys.transcript(conv_id), json.dumps(message))
        pipe.ltrim(keys.transcript(conv_id), -self._transcript_limit, -1)

    def _publisher(self, event: str, conv: Conversation, now: float, **extra: Any) -> Writer:
        return lambda pipe: self._publish(pipe, event, conv, now, **extra)

    @staticmethod
    def _publish(
        pipe: Pipeline,
        event: str,
        conv: Conversation,
        now: float,
        queue_changed: bool = False,
        **extra: Any,
    ) -> None:
        # Published inside the transaction, so consoles never hear of a change
        # that did not happen.
        events.publish(
            pipe,
            {
                "type": event,
                "conversation_id": conv.id,
                "state": conv.state.value,
                "priority": conv.priority,
                "assigned_to": conv.assigned_to,
                "queue_changed": queue_changed,
                "at": now,
                **extra,
            },
        )

    @staticmethod
    async def _load(client: Any, conv_id: str) -> Optional[Conversation]:
        raw = await client.hgetall(keys.conversation(conv_id))
        return Conversation.from_hash(raw) if raw else None


async def read_conversation(redis: Redis, conv_id: str) -> Conversation:
    """The record of one conversation, for readers that change nothing (the review list).

    Raises:
        InvalidInput: not a conversation id.
        ConversationNotFound: no record (never escalated, or expired).
    """
    conv = await HandoffStore._load(redis, _checked(conv_id))
    if conv is None:
        raise ConversationNotFound(conv_id)
    return conv


def _sample_tags(conv: Conversation) -> Dict[str, Optional[str]]:
    # What the metrics page filters samples by: the CSR who had it and why it escalated.
    return {"csr": conv.assigned_to, "reason": conv.reason or None}


def _check_actor(conv: Conversation, by: str, admin: bool) -> None:
    if conv.state is State.ASSIGNED and conv.assigned_to != by and not admin:
        raise NotAssignee(f"conversation is assigned to {conv.assigned_to}")


def _checked(conv_id: str) -> str:
    if not keys.check_id(conv_id):
        raise InvalidInput("conversation id must be 1-128 letters, digits or _.:@+-")
    return conv_id


def _score(priority: str, enqueued_at: float) -> float:
    return (len(PRIORITIES) - 1 - _RANK[priority]) * _BAND + round(enqueued_at * 1000)
