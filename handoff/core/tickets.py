"""The ticket inbox: cases a CSR answers later, by email and in the chat, within SLA targets.

A ticket comes from a conversation no CSR could take (out of hours, the team away, or no
CSR online in business hours: the customer left an email address) or from a CSR who opens
one to follow a case up.
It has a status, an assignee, a priority, a public thread and internal notes, and two
due times from the :class:`~handoff.core.sla.SlaPolicy` of its priority:

::

    open ──CSR reply──▶ pending_customer ──customer reply──▶ open
      │                        │
      └────────CSR: solved─────┴──▶ solved ──customer reply──▶ open (reopened)

Every change goes through :meth:`TicketDesk._mutate`: WATCH the ticket's hash, decide
on what it holds, then write the hash, the thread, the metric samples and the
``ticket.*`` event (:mod:`handoff.core.events`) in one MULTI/EXEC, so no console or
webhook hears of a change that was not committed, and a reply racing a status change
is decided again on fresh data.

The customer's email address is kept in clear in the ticket's hash (mail must reach it)
but never in a key name: the customer's tickets are indexed under
:func:`~handoff.core.customers.customer_key`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Tuple

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from handoff.core import events, keys, mail, metrics
from handoff.core.auth import Auth
from handoff.core.conversation import PRIORITIES, check_priority
from handoff.core.customers import customer_key
from handoff.core.errors import (
    Conflict,
    ConversationNotFound,
    InvalidInput,
    InvalidTransition,
    NotAssignee,
    TicketNotFound,
)
from handoff.core.lifecycle import State
from handoff.core.outbox import Outbox
from handoff.core.settings import EmailSettings
from handoff.core.sla import SlaPolicy
from handoff.core.store import HandoffStore
from handoff.core.text_rules import check_text
from handoff.core.transactions import watched

# Where a ticket the bot left comes from, and how its thread says so.
CHAT_SOURCES = {
    "out_of_hours": "outside opening hours",
    "team_away": "while the team was away",
    "no_csr": "while no CSR was online",
}
SOURCES = (*CHAT_SOURCES, "csr")
VIAS = ("chat", "email", "widget")
SUBJECT_CHARS = 200
REASON_CHARS = 64
# Customers' replies come by email too, which runs longer than a chat line.
CUSTOMER_TEXT_CHARS = 20_000
DEFAULT_LIMIT = 500
# Ticket numbers start here, so the first ticket is T-1001 and ids keep one width for long.
FIRST_NUMBER = 1000
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z0-9-]{2,}$")
# A transcript line that is only an address, masked (s***@example.com) or not.
_ONLY_ADDRESS = re.compile(r"^\s*\S+@\S+\.\S+\s*$")
_MAX_RETRIES = 50

Writer = Callable[[Pipeline], None]


class TicketStatus(str, Enum):
    """Whose move it is on a ticket."""

    OPEN = "open"
    PENDING_CUSTOMER = "pending_customer"
    SOLVED = "solved"


@dataclass(frozen=True)
class Ticket:
    """One ticket (times are epoch seconds).

    Attributes:
        id: ``T-1042``.
        conversation_id: The chat it came from or is about, if any.
        subject: One line for the inbox.
        status: Whose move it is.
        priority: One of :data:`~handoff.core.conversation.PRIORITIES`.
        reason: The escalation reason it came from (``csr`` when a CSR opened it).
        source: ``out_of_hours``, ``team_away``, ``no_csr`` or ``csr``.
        assignee: Username of the CSR who has it.
        email: Where replies are mailed (in clear: mail must reach it; never in a key).
        customer_key: The customer's keyed hash (:func:`~handoff.core.customers.customer_key`).
        created_at: When it was opened.
        updated_at: Last change.
        first_reply_due: When the first public reply is due (SLA, business hours).
        resolution_due: When it should be solved.
        first_replied_at: When a CSR first replied.
        solved_at: When it was last marked solved (None while not solved).
        reopen_count: How often a customer's reply reopened it after it was solved.
    """

    id: str
    conversation_id: Optional[str] = None
    subject: str = ""
    status: TicketStatus = TicketStatus.OPEN
    priority: str = "normal"
    reason: str = ""
    source: str = "csr"
    assignee: Optional[str] = None
    email: Optional[str] = None
    customer_key: Optional[str] = None
    created_at: float = 0.0
    updated_at: float = 0.0
    first_reply_due: float = 0.0
    resolution_due: float = 0.0
    first_replied_at: Optional[float] = None
    solved_at: Optional[float] = None
    reopen_count: int = 0

    def breached(self, now: float) -> Dict[str, bool]:
        """Which targets were (or are, at ``now``) missed."""
        replied = self.first_replied_at if self.first_replied_at is not None else now
        solved = self.solved_at if self.solved_at is not None else now
        return {
            "first_reply": replied > self.first_reply_due,
            "resolution": solved > self.resolution_due,
        }

    def to_hash(self) -> Dict[str, str]:
        """Every field JSON-encoded, ready for HSET (None survives the round trip)."""
        data = asdict(self)
        data["status"] = self.status.value
        return {name: json.dumps(value) for name, value in data.items()}

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> "Ticket":
        """Rebuild a ticket from HGETALL output; unknown fields are ignored."""
        known = {f.name for f in fields(cls)}
        data = {name: json.loads(value) for name, value in raw.items() if name in known}
        data["status"] = TicketStatus(data.get("status", TicketStatus.OPEN.value))
        return cls(**data)

    def to_dict(self, now: Optional[float] = None) -> Dict[str, Any]:
        """JSON-friendly view for the API, with ``breached`` computed against ``now``."""
        data = asdict(self)
        data["status"] = self.status.value
        data["breached"] = self.breached(time.time() if now is None else now)
        return data


class MailPort(Protocol):
    """Where ticket replies are queued for sending (:class:`handoff.core.mail.MailOutbox`)."""

    async def enqueue(self, email: Any) -> str:
        """Queue one outgoing email; returns its id."""


class LinksPort(Protocol):
    """Signed links that reopen a conversation (:class:`handoff.core.resume_links.ResumeLinks`)."""

    def url(self, conversation_id: str, ticket_id: Optional[str] = None) -> str:
        """The link to put in a mail."""


class TicketDesk:
    """Tickets in Redis: opening, the inbox, replies, notes and status changes.

    Args:
        redis: An asyncio Redis client (decoded replies).
        store: The conversation records (to turn a queued chat into a ticket and to post
            replies in its transcript).
        sla: The first-reply and resolution targets.
        mail_outbox: Where reply emails are queued.
        resume_links: Makes the link in a mail that reopens the chat.
        secret: The handoff secret (keys the customer hash).
        clock: Returns the current epoch time (tests pass a fake one).
        outbox: The customers' chat outboxes (default: one over ``redis``).
        auth: The accounts an assignee must be one of (default: one over ``redis``).
        email_settings: Sender, reply address and whether mail is on at all.
        max_message_chars: Longest CSR reply, note or subject accepted.
    """

    def __init__(
        self,
        redis: Redis,
        store: HandoffStore,
        *,
        sla: SlaPolicy,
        mail_outbox: MailPort,
        resume_links: LinksPort,
        secret: str,
        clock: Callable[[], float] = time.time,
        outbox: Optional[Outbox] = None,
        auth: Optional[Auth] = None,
        email_settings: Optional[EmailSettings] = None,
        max_message_chars: int = 2000,
    ):
        """Wire the collaborators; nothing is read or written yet."""
        self._redis = redis
        self._store = store
        self._sla = sla
        self._mail = mail_outbox
        self._links = resume_links
        self._secret = secret
        self._clock = clock
        self._outbox = outbox or Outbox(redis)
        self._auth = auth or Auth(redis, secret)
        self._email = email_settings or EmailSettings()
        self._max_chars = max_message_chars

    @property
    def sla(self) -> SlaPolicy:
        """The targets due times come from (the console shows them)."""
        return self._sla

    # ---- opening -------------------------------------------------------------------------

    async def open_from_conversation(
        self, conv_id: str, email: str, *, reason: str, source: str = "out_of_hours"
    ) -> Ticket:
        """Turn a conversation no CSR could take into a ticket answered by email.

        The conversation (queued by the escalation) becomes a ``ticket`` conversation and
        leaves the queue; the ticket takes its priority and, as subject, the customer's
        last message that is not just an email address (the answer to "where should we
        reply?").

        Args:
            conv_id: The conversation.
            email: Where the customer wants the answer.
            reason: The escalation reason (``request_human``, ``complaint``...).
            source: one of :data:`CHAT_SOURCES` (``out_of_hours``, ``team_away``, ``no_csr``).

        Raises:
            InvalidInput: bad id, email, reason or source.
            ConversationNotFound: no record of the conversation.
            InvalidTransition: the conversation is neither queued nor a ticket already.
        """
        _check_conv_id(conv_id)
        email = _check_email(email)
        reason = _check_reason(reason)
        if not isinstance(source, str) or source not in CHAT_SOURCES:
            raise InvalidInput(f"source must be one of {', '.join(CHAT_SOURCES)}")
        conv = await self._store.get(conv_id)
        if conv.state is not State.TICKET:
            conv = await self._store.leave_ticket(conv_id, email)
        transcript = await self._store.transcript(conv_id)
        # The address the customer just typed for the ticket is no subject: their request is.
        said = [
            m.get("text")
            for m in transcript
            if m.get("sender") == "customer" and not _ONLY_ADDRESS.match(m.get("text") or "")
        ]
        subject = _one_line(said[-1] if said else "") or f"Follow-up on {reason.replace('_', ' ')}"
        hours = CHAT_SOURCES[source]
        answer = "by email" if self._email.enabled else "in the chat (email is off)"
        return await self._create(
            conversation_id=conv_id,
            subject=subject,
            priority=conv.priority,
            reason=reason,
            source=source,
            assignee=None,
            email=email,
            opened_text=f"Opened from the chat {hours}; replies reach the customer {answer}.",
        )

    async def open_by_csr(
        self,
        csr: str,
        *,
        subject: Any,
        priority: Any = "normal",
        conversation_id: Optional[str] = None,
        email: Optional[str] = None,
        note: Any = None,
    ) -> Ticket:
        """A CSR opens a ticket to follow a case up (it is theirs until they hand it on).

        Args:
            csr: The CSR's username.
            subject: One line for the inbox.
            priority: The ticket's priority.
            conversation_id: The chat it is about (must exist); its ticket email is used
                when ``email`` is not given.
            email: Where replies are mailed.
            note: A first internal note (e.g. "courier answers tomorrow").

        Raises:
            InvalidInput: bad subject, priority, email, id or note.
            ConversationNotFound: ``conversation_id`` names no conversation.
        """
        subject = _one_line(check_text(subject, "subject", max_chars=SUBJECT_CHARS))
        priority = check_priority(priority) if isinstance(priority, str) else _bad_priority()
        email = None if email in (None, "") else _check_email(email)
        if note is not None:
            note = self._check_text(note, "note", required=False)
            note = note if note.strip() else None  # an empty note is no note
        reason = "csr"
        if conversation_id not in (None, ""):
            conv = await self._store.get(_check_conv_id(conversation_id))
            reason = conv.reason or reason
            email = email or conv.ticket_email
        else:
            conversation_id = None
        ticket = await self._create(
            conversation_id=conversation_id,
            subject=subject,
            priority=priority,
            reason=reason,
            source="csr",
            assignee=csr,
            email=email,
            opened_text=f"Ticket opened by {csr}.",
        )
        if note is not None:
            await self.add_note(ticket.id, csr, note)
        return ticket

    async def _create(
        self,
        *,
        conversation_id: Optional[str],
        subject: str,
        priority: str,
        reason: str,
        source: str,
        assignee: Optional[str],
        email: Optional[str],
        opened_text: str,
    ) -> Ticket:
        now = self._clock()
        number = await self._redis.incr(keys.TICKET_SEQ)
        ticket = Ticket(
            id=f"T-{FIRST_NUMBER + number}",
            conversation_id=conversation_id,
            subject=subject,
            priority=priority,
            reason=reason,
            source=source,
            assignee=assignee,
            email=email,
            customer_key=customer_key(self._secret, email) if email else None,
            created_at=now,
            updated_at=now,
            first_reply_due=self._sla.first_reply_due(priority, now),
            resolution_due=self._sla.resolution_due(priority, now),
        )
        entry = _entry("system", opened_text, now, via="chat" if conversation_id else "email")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.ticket(ticket.id), mapping=ticket.to_hash())
            pipe.rpush(keys.ticket_thread(ticket.id), json.dumps(entry))
            pipe.zadd(keys.TICKETS, {ticket.id: now})
            if ticket.customer_key:
                pipe.zadd(keys.customer_tickets(ticket.customer_key), {ticket.id: now})
            if conversation_id:
                # The widget finds the ticket a returning customer writes to from here.
                pipe.set(keys.conversation_ticket(conversation_id), ticket.id)
            _publish(pipe, "ticket.opened", ticket, now, source=source)
            await pipe.execute()
        return ticket

    # ---- reading -------------------------------------------------------------------------

    async def get(self, ticket_id: str) -> Ticket:
        """One ticket.

        Raises:
            InvalidInput: not a ticket id.
            TicketNotFound: no such ticket.
        """
        raw = await self._redis.hgetall(keys.ticket(_check_ticket_id(ticket_id)))
        if not raw:
            raise TicketNotFound(ticket_id)
        return Ticket.from_hash(raw)

    async def of_conversation(self, conv_id: str) -> Optional[Ticket]:
        """The newest ticket opened on a conversation, if it still exists.

        Raises:
            InvalidInput: not a conversation id.
        """
        ticket_id = await self._redis.get(keys.conversation_ticket(_check_conv_id(conv_id)))
        if not ticket_id:
            return None
        raw = await self._redis.hgetall(keys.ticket(ticket_id))
        return Ticket.from_hash(raw) if raw else None

    async def list(
        self,
        *,
        status: Optional[str] = None,
        assignee: Optional[str] = None,
        breached: Optional[bool] = None,
        limit: Optional[int] = DEFAULT_LIMIT,
    ) -> List[Ticket]:
        """Tickets, newest first, filtered.

        Args:
            status: Only this status (``open``, ``pending_customer``, ``solved``).
            assignee: Only this CSR's; ``""`` for the unassigned ones.
            breached: Only tickets that missed (True) or still meet (False) a target.
            limit: At most this many (None: all).

        Raises:
            InvalidInput: an unknown status.
        """
        if status is not None:
            status = _check_status(status).value
        ids = await self._redis.zrevrange(keys.TICKETS, 0, -1)
        now = self._clock()
        found = []
        for ticket in await self._load_many(ids):
            if status is not None and ticket.status.value != status:
                continue
            if assignee is not None and (ticket.assignee or "") != assignee:
                continue
            if breached is not None and any(ticket.breached(now).values()) != breached:
                continue
            found.append(ticket)
            if limit is not None and len(found) >= limit:
                break
        return found

    async def thread(self, ticket_id: str) -> List[Dict[str, Any]]:
        """The public messages, oldest first: ``{sender, text, at, via, author?, agent?}``.

        Raises:
            TicketNotFound: no such ticket.
        """
        await self.get(ticket_id)
        return [
            json.loads(m) for m in await self._redis.lrange(keys.ticket_thread(ticket_id), 0, -1)
        ]

    async def notes(self, ticket_id: str) -> List[Dict[str, Any]]:
        """Internal notes, oldest first: ``{author, text, at}``.

        Raises:
            TicketNotFound: no such ticket.
        """
        await self.get(ticket_id)
        return [
            json.loads(n) for n in await self._redis.lrange(keys.ticket_notes(ticket_id), 0, -1)
        ]

    async def for_customer(self, customer: str) -> List[Ticket]:
        """One customer's tickets, newest first (``customer``: their customer key)."""
        if not isinstance(customer, str) or not re.fullmatch(r"[0-9a-f]{64}", customer):
            raise InvalidInput("a customer key is 64 hex digits")
        ids = await self._redis.zrevrange(keys.customer_tickets(customer), 0, -1)
        return await self._load_many(ids)

    async def backlog(self) -> List[Ticket]:
        """Every ticket not solved (for the metrics: backlog and breaches)."""
        ids = await self._redis.zrevrange(keys.TICKETS, 0, -1)
        return [t for t in await self._load_many(ids) if t.status is not TicketStatus.SOLVED]

    async def open_count(self) -> int:
        """How many tickets are not solved."""
        return len(await self.backlog())

    # ---- changes -------------------------------------------------------------------------

    async def update(
        self,
        ticket_id: str,
        by: str,
        *,
        status: Optional[str] = None,
        assignee: Optional[str] = None,
        priority: Optional[str] = None,
        admin: bool = False,
    ) -> Ticket:
        """Change status, assignee or priority (None leaves a field as it is).

        Args:
            ticket_id: The ticket.
            by: The CSR making the change.
            status: ``solved`` (records the resolution metric), ``open`` or
                ``pending_customer``.
            assignee: A username of an existing account; ``""`` unassigns.
            priority: A new priority; the due times are recomputed from the opening.
            admin: ``by`` is an admin (may change anybody's ticket).

        Raises:
            InvalidInput: unknown status, priority or account.
            NotAssignee: the ticket is another CSR's and ``by`` is no admin.
            TicketNotFound: no such ticket.
        """
        new_status = None if status is None else _check_status(status)
        if priority is not None:
            priority = check_priority(priority) if isinstance(priority, str) else _bad_priority()
        if assignee is not None:
            assignee = await self._check_assignee(assignee)
        now = self._clock()

        def change(ticket: Ticket) -> Tuple[Ticket, Writer]:
            check_access(ticket, by, admin)
            updated = replace(ticket, updated_at=now)
            if priority is not None and priority != ticket.priority:
                updated = replace(
                    updated,
                    priority=priority,
                    first_reply_due=self._sla.first_reply_due(priority, ticket.created_at),
                    resolution_due=self._sla.resolution_due(priority, ticket.created_at),
                )
            if assignee is not None:
                updated = replace(updated, assignee=assignee or None)
            solving = new_status is TicketStatus.SOLVED and ticket.status is not TicketStatus.SOLVED
            if new_status is not None and new_status is not ticket.status:
                updated = replace(updated, status=new_status, solved_at=now if solving else None)

            def write(pipe: Pipeline) -> None:
                if solving:
                    self._record_solved(pipe, updated, by, now)
                    _publish(pipe, "ticket.solved", updated, now, by=by)
                else:
                    _publish(pipe, "ticket.updated", updated, now, by=by)

            return updated, write

        return await self._mutate(ticket_id, change)

    async def add_note(
        self, ticket_id: str, author: str, text: Any, *, admin: bool = False
    ) -> Dict[str, Any]:
        """Attach an internal note (never shown to the customer).

        Args:
            ticket_id: The ticket.
            author: The CSR writing it.
            text: The note.
            admin: ``author`` is an admin (may note on anybody's ticket).

        Raises:
            InvalidInput: bad text.
            NotAssignee: another CSR's ticket and ``admin`` is False.
            TicketNotFound: no such ticket.
        """
        text = self._check_text(text, "text")
        now = self._clock()
        note = {"author": author, "text": text, "at": now}

        def change(ticket: Ticket) -> Tuple[Ticket, Writer]:
            check_access(ticket, author, admin)
            updated = replace(ticket, updated_at=now)

            def write(pipe: Pipeline) -> None:
                pipe.rpush(keys.ticket_notes(ticket.id), json.dumps(note))
                _publish(pipe, "ticket.updated", updated, now, by=author, note_added=True)

            return updated, write

        await self._mutate(ticket_id, change)
        return note

    async def reply(
        self, ticket_id: str, csr: str, text: Any, *, admin: bool = False
    ) -> Dict[str, Any]:
        """Answer the customer: by email when the ticket has an address (and mail is on),
        and in the chat when it has a conversation. The ticket then waits on the customer.

        Returns:
            ``{"message": thread entry, "ticket": ticket dict, "emailed": bool,
            "in_chat": bool}``.

        Raises:
            InvalidInput: bad text.
            NotAssignee: another CSR's ticket and ``admin`` is False.
            InvalidTransition: the ticket is solved (reopen it first).
            Conflict: ``no_reply_channel``, neither an email address (with mail on) nor
                a conversation to answer in.
            TicketNotFound: no such ticket.
        """
        text = self._check_text(text, "text")
        ticket = await self.get(ticket_id)
        account = await self._auth.get_account(csr)
        agent = account.display_name if account else csr
        in_chat = await self._conversation_exists(ticket.conversation_id)
        emailed = bool(ticket.email) and self._email.enabled
        if not emailed and not in_chat:
            raise Conflict(
                "this ticket has neither an email address (with email turned on) nor a "
                "conversation to answer in; add a note instead",
                code="no_reply_channel",
            )
        now = self._clock()
        entry = _entry(
            "csr", text, now, via="email" if emailed else "chat", author=csr, agent=agent
        )

        def change(current: Ticket) -> Tuple[Ticket, Writer]:
            check_access(current, csr, admin)
            if current.status is TicketStatus.SOLVED:
                raise InvalidTransition("this ticket is solved; set it to open to reply")
            first = current.first_replied_at is None
            updated = replace(
                current,
                status=TicketStatus.PENDING_CUSTOMER,
                first_replied_at=now if first else current.first_replied_at,
                assignee=current.assignee or csr,
                updated_at=now,
            )

            def write(pipe: Pipeline) -> None:
                pipe.rpush(keys.ticket_thread(current.id), json.dumps(entry))
                if first:
                    metrics.ticket_first_reply(
                        pipe,
                        current.id,
                        seconds=self._sla.business_seconds(current.created_at, now),
                        met=now <= current.first_reply_due,
                        csr=csr,
                        reason=current.reason,
                        priority=current.priority,
                        at=now,
                    )
                _publish(pipe, "ticket.replied", updated, now, by=csr, via=entry["via"])

            return updated, write

        ticket = await self._mutate(ticket_id, change)
        if in_chat:
            in_chat = await self._post_in_chat(ticket, csr, agent, text, now)
        if emailed:
            resume = (
                self._links.url(ticket.conversation_id, ticket.id) if ticket.conversation_id else ""
            )
            await self._mail.enqueue(
                mail.ticket_reply(
                    ticket, agent=agent, text=text, resume_url=resume, settings=self._email
                )
            )
        return {
            "message": entry,
            "ticket": ticket.to_dict(now),
            "emailed": emailed,
            "in_chat": in_chat,
        }

    async def customer_replied(self, ticket_id: str, text: Any, *, via: str) -> Ticket:
        """The customer wrote back (an email reply, or the widget opened from a link).

        A solved ticket opens again (counted as reopened); a pending one is open again.

        Raises:
            InvalidInput: bad text or ``via``.
            TicketNotFound: no such ticket.
        """
        text = check_text(text, "text", max_chars=CUSTOMER_TEXT_CHARS)
        if via not in VIAS:
            raise InvalidInput(f"via must be one of {', '.join(VIAS)}")
        now = self._clock()
        entry = _entry("customer", text, now, via=via)

        def change(ticket: Ticket) -> Tuple[Ticket, Writer]:
            reopened = ticket.status is TicketStatus.SOLVED
            updated = replace(
                ticket,
                status=TicketStatus.OPEN,
                solved_at=None,
                reopen_count=ticket.reopen_count + (1 if reopened else 0),
                updated_at=now,
            )

            def write(pipe: Pipeline) -> None:
                pipe.rpush(keys.ticket_thread(ticket.id), json.dumps(entry))
                _publish(pipe, "ticket.customer_replied", updated, now, via=via)
                if reopened:
                    metrics.reopened(
                        pipe,
                        ticket.id,
                        kind="ticket",
                        csr=ticket.assignee,
                        reason=ticket.reason,
                        at=now,
                    )
                    _publish(pipe, "ticket.reopened", updated, now, via=via)

            return updated, write

        return await self._mutate(ticket_id, change)

    async def delete(self, ticket_id: str) -> None:
        """Erase a ticket with its thread and notes (retention, a customer's erasure).

        Unknown tickets are ignored: erasing twice is not an error.
        """
        key = keys.ticket(_check_ticket_id(ticket_id))
        raw = await self._redis.hgetall(key)
        ticket = Ticket.from_hash(raw) if raw else None
        customer = ticket.customer_key if ticket else None

        def erase(pipe: Pipeline, pointer: Optional[str] = None) -> None:
            pipe.delete(key, keys.ticket_thread(ticket_id), keys.ticket_notes(ticket_id))
            pipe.zrem(keys.TICKETS, ticket_id)
            if customer:
                pipe.zrem(keys.customer_tickets(customer), ticket_id)
            if pointer:
                pipe.delete(pointer)

        if ticket is None or not ticket.conversation_id:
            async with self._redis.pipeline(transaction=True) as pipe:
                erase(pipe)
                await pipe.execute()
            return
        # The conversation's pointer goes only while it names this ticket: a newer ticket
        # opened on the same conversation (even meanwhile: it is watched) keeps its own.
        pointer = keys.conversation_ticket(ticket.conversation_id)

        async def decide(pipe: Pipeline) -> Tuple[None, Writer]:
            points_here = await pipe.get(pointer) == ticket_id
            return None, lambda p: erase(p, pointer if points_here else None)

        await watched(
            self._redis,
            pointer,
            decide,
            retries=_MAX_RETRIES,
            busy=f"ticket {ticket_id!r} is changing too fast; try again",
        )

    # ---- internals -----------------------------------------------------------------------

    def _record_solved(self, pipe: Pipeline, ticket: Ticket, by: str, now: float) -> None:
        replied = ticket.first_replied_at
        metrics.ticket_solved(
            pipe,
            ticket.id,
            seconds=self._sla.business_seconds(ticket.created_at, now),
            met=now <= ticket.resolution_due,
            first_reply_met=None if replied is None else replied <= ticket.first_reply_due,
            csr=ticket.assignee or by,
            reason=ticket.reason,
            priority=ticket.priority,
            at=now,
        )

    async def _mutate(
        self, ticket_id: str, change: Callable[[Ticket], Tuple[Ticket, Writer]]
    ) -> Ticket:
        """Read, check and write one ticket atomically (optimistic lock on its hash)."""
        key = keys.ticket(_check_ticket_id(ticket_id))

        async def decide(pipe: Pipeline) -> Tuple[Ticket, Writer]:
            raw = await pipe.hgetall(key)
            if not raw:
                raise TicketNotFound(ticket_id)
            updated, write = change(Ticket.from_hash(raw))

            def write_all(pipe: Pipeline) -> None:
                pipe.hset(key, mapping=updated.to_hash())
                write(pipe)

            return updated, write_all

        return await watched(
            self._redis,
            key,
            decide,
            retries=_MAX_RETRIES,
            busy=f"ticket {ticket_id!r} is changing too fast; try again",
        )

    async def _load_many(self, ids: List[str]) -> List[Ticket]:
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for ticket_id in ids:
                pipe.hgetall(keys.ticket(ticket_id))
            records = await pipe.execute()
        return [Ticket.from_hash(r) for r in records if r]

    async def _check_assignee(self, assignee: Any) -> str:
        if assignee == "":
            return ""
        account = await self._auth.get_account(assignee) if isinstance(assignee, str) else None
        if account is None:
            raise InvalidInput("`assignee` must name an existing CSR account (or be empty)")
        return account.username

    async def _conversation_exists(self, conv_id: Optional[str]) -> bool:
        if conv_id is None:
            return False
        try:
            await self._store.get(conv_id)
        except ConversationNotFound:
            return False  # expired since: the answer can only go by email
        return True

    async def _post_in_chat(
        self, ticket: Ticket, csr: str, agent: str, text: str, now: float
    ) -> bool:
        # The transcript (what CSRs read) and the outbox (what the widget shows, now or
        # when the customer comes back through the mail's link), as a CSR's message with
        # the ticket's id: an answer to the ticket, not a live chat (the widget says so).
        conv_id = ticket.conversation_id
        try:
            await self._store.record_ticket_reply(conv_id, csr, text, agent=agent)
        except ConversationNotFound:
            return False  # expired a moment ago: the mail (if any) still carries the answer
        await self._outbox.append(
            conv_id,
            {
                "sender": "csr",
                "text": text,
                "agent": agent,
                "ticket_id": ticket.id,
                "timestamp": now,
            },
        )
        return True

    def _check_text(self, text: Any, name: str, *, required: bool = True) -> str:
        return check_text(text, name, max_chars=self._max_chars, required=required)


def check_access(ticket: Ticket, username: str, admin: bool) -> None:
    """Refuse a CSR acting on a ticket another CSR has (unassigned ones are everybody's).

    Raises:
        NotAssignee: ``ticket`` is assigned to someone else and ``admin`` is False.
    """
    if not visible_to(ticket, username, admin):
        raise NotAssignee(f"ticket is assigned to {ticket.assignee}")


def visible_to(ticket: Ticket, username: str, admin: bool) -> bool:
    """Whether a CSR sees the ticket in their inbox: theirs, unassigned, or any for an admin."""
    return admin or ticket.assignee in (None, username)


def _publish(pipe: Pipeline, event: str, ticket: Ticket, now: float, **extra: Any) -> None:
    events.publish(
        pipe,
        {
            "type": event,
            "ticket_id": ticket.id,
            "conversation_id": ticket.conversation_id,
            "status": ticket.status.value,
            "priority": ticket.priority,
            "assignee": ticket.assignee,
            "at": now,
            **extra,
        },
    )


def _entry(sender: str, text: str, at: float, *, via: str, **extra: Any) -> Dict[str, Any]:
    entry = {"sender": sender, "text": text, "at": at, "via": via, **extra}
    return {k: v for k, v in entry.items() if v is not None}


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 120 else line[:119].rstrip() + "…"


def _check_status(status: Any) -> TicketStatus:
    try:
        return TicketStatus(status)
    except ValueError:
        raise InvalidInput(
            f"status must be one of {', '.join(s.value for s in TicketStatus)}"
        ) from None


def _bad_priority() -> str:
    raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")


def _check_email(email: Any) -> str:
    if not isinstance(email, str) or not _EMAIL.match(email.strip()):
        raise InvalidInput("a valid email address is required")
    return email.strip()


def _check_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not 0 < len(reason) <= REASON_CHARS:
        raise InvalidInput(f"reason must be a string of 1-{REASON_CHARS} characters")
    return reason


def _check_conv_id(conv_id: Any) -> str:
    if not keys.check_id(conv_id):
        raise InvalidInput("conversation id must be 1-128 letters, digits or _.:@+-")
    return conv_id


def _check_ticket_id(ticket_id: Any) -> str:
    if not keys.check_id(ticket_id):
        raise InvalidInput("ticket id must be 1-128 letters, digits or _.:@+- (e.g. T-1042)")
    return ticket_id
