"""Email to customers: what a mail says, where replies go, and the durable queue of mails.

A CSR's answer to a ticket becomes an :class:`OutgoingEmail` (:func:`ticket_reply`) that is
put in the mail outbox, a Redis Stream (``handoff:mail_outbox``). The handoff service's
mailers (:mod:`handoff.delivery.smtp`) read it as one consumer group, so each mail is sent
once however many instances run, and a mail server that is down delays mail without
losing it. This module holds the queue's Redis commands; the SMTP side lives in the
delivery layer (the core never imports aiosmtplib).

Replies. With an inbound secret, each mail's Reply-To is the reply address with a tag,
``support+T-1042-<signature>@shop.example``: the inbound webhook reads the ticket from it,
and the signature (an HMAC under the inbound secret) keeps anyone from writing to a
ticket by guessing its number. Every mail of a ticket names the same thread root in
``In-Reply-To``/``References``, so mail clients show them as one conversation.

Queue layout (keys in :mod:`handoff.core.keys`)::

    handoff:mail_outbox   stream  {email: JSON, attempts: n, last_error}; group "mailers"
    handoff:mail_retry    zset    JSON {email, attempts, last_error, uid} -> next attempt time
    handoff:mail_failed   stream  {email: JSON, attempts, reason, failed_at}

A mail is deleted from the outbox once sent, moved to ``mail_retry`` after a temporary
failure (and back to the outbox when due), or to ``mail_failed`` for good.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import asdict, dataclass, fields
from email.message import EmailMessage
from email.utils import formataddr, formatdate, getaddresses, parseaddr
from typing import Any, Dict, List, Mapping, Optional, Protocol, Tuple

from redis.asyncio import Redis

from handoff.core import keys
from handoff.core.errors import InvalidInput
from handoff.core.settings import EmailSettings

GROUP = "mailers"
SIGNATURE_CHARS = 16
MAX_SUBJECT_CHARS = 150
FAILED_MAXLEN = 1000
_PURPOSE = b"handoff reply address v1"
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
_TAG = re.compile(r"^(?P<ticket>[A-Za-z0-9_.-]+)-(?P<sig>[0-9a-f]{%d})$" % SIGNATURE_CHARS)
_SUBJECT_TICKET = re.compile(r"\[(T-[0-9]{1,12})\]", re.IGNORECASE)

# Moves the retries that are due back to the outbox, atomically: a retry is never lost
# between the two keys, and two instances never move the same one.
_MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  local retry = cjson.decode(member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('XADD', KEYS[2], '*', 'email', cjson.encode(retry['email']),
             'attempts', tostring(retry['attempts']), 'last_error', retry['last_error'])
end
return #due
"""


class TicketLike(Protocol):
    """What a mail needs of a ticket (:class:`handoff.core.tickets.Ticket`)."""

    id: str
    subject: str
    email: Optional[str]


@dataclass(frozen=True)
class OutgoingEmail:
    """One mail to a customer.

    Attributes:
        to: The recipient's address.
        subject: The subject line.
        text: The plain-text body.
        html: An HTML alternative, or None.
        reply_to: Where replies go (a ticket's tagged reply address).
        message_id: This mail's ``Message-ID`` (``<...@domain>``).
        in_reply_to: The ``Message-ID`` this mail answers (a ticket's thread root).
        ticket_id: The ticket it belongs to, for logs and failures.
        sender: The ``From`` header (``Name <address>``).
        references: The ``References`` header (default ``in_reply_to``).
        created_at: Epoch seconds (whole); the ``Date`` header.
    """

    to: str
    subject: str
    text: str
    html: Optional[str]
    reply_to: str
    message_id: str
    in_reply_to: Optional[str]
    ticket_id: Optional[str]
    sender: str = ""
    references: Optional[str] = None
    created_at: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly form (how the outbox stores it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "OutgoingEmail":
        """The mail :meth:`to_dict` made (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def envelope_sender(self) -> str:
        """The bare address of ``sender`` (SMTP's ``MAIL FROM``)."""
        return parseaddr(self.sender)[1]

    def to_message(self) -> EmailMessage:
        """The RFC 5322 message, ready for SMTP.

        Raises:
            ValueError: a header value holds a line break (the standard library refuses it).
        """
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(self.created_at or time.time(), usegmt=True)
        message["Message-ID"] = self.message_id
        if self.reply_to:
            message["Reply-To"] = self.reply_to
        if self.in_reply_to:
            message["In-Reply-To"] = self.in_reply_to
            message["References"] = self.references or self.in_reply_to
        message.set_content(self.text)
        if self.html:
            message.add_alternative(self.html, subtype="html")
        return message


def check_address(value: Any, field: str = "email") -> str:
    """``value`` as one plain email address.

    Raises:
        InvalidInput: not a single ``local@domain`` address.
    """
    if not isinstance(value, str) or len(value) > 254 or not _ADDRESS.match(value.strip()):
        raise InvalidInput(f"`{field}` must be an email address like name@example.com")
    return value.strip()


def domain_of(address: str) -> str:
    """The domain part of an address (lower case)."""
    return address.rpartition("@")[2].lower()


def thread_id(ticket_id: str, settings: EmailSettings) -> str:
    """The ``Message-ID`` every mail of a ticket answers: the root of its thread."""
    return f"<ticket-{ticket_id}@{domain_of(settings.from_address)}>"


def _signature(secret: str, ticket_id: str) -> str:
    key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    digest = hmac.new(key, ticket_id.upper().encode(), hashlib.sha256).hexdigest()
    return digest[:SIGNATURE_CHARS]


def reply_address(settings: EmailSettings, ticket_id: str) -> str:
    """Where the customer's reply to a ticket's mail goes.

    ``local+<ticket>-<signature>@domain`` of ``settings.replies_to`` when the inbound
    webhook is on, the plain address otherwise (nothing could read the tag).
    """
    base = settings.replies_to
    if not settings.inbound_enabled:
        return base
    local, _, domain = base.rpartition("@")
    return f"{local}+{ticket_id}-{_signature(settings.inbound_secret, ticket_id)}@{domain}"


def ticket_of_addresses(settings: EmailSettings, header: Any) -> Optional[str]:
    """The ticket whose signed reply address is among ``header``'s addresses, or None.

    ``header`` is a To/recipient value (``Name <a@b>, c@d``). The local part is compared
    without letter case, since some relays lower-case it; a wrong or missing signature
    names no ticket.
    """
    if not settings.inbound_enabled or not isinstance(header, str):
        return None
    local, _, domain = settings.replies_to.rpartition("@")
    prefix = f"{local.lower()}+"
    for _name, address in getaddresses([header]):
        their_local, _, their_domain = address.strip().rpartition("@")
        if their_domain.lower() != domain.lower() or not their_local.lower().startswith(prefix):
            continue
        match = _TAG.match(their_local[len(prefix) :].lower())
        if not match:
            continue
        ticket_id = match.group("ticket").upper()
        expected = _signature(settings.inbound_secret, ticket_id)
        if hmac.compare_digest(expected, match.group("sig")):
            return ticket_id
    return None


def ticket_of_subject(subject: Any) -> Optional[str]:
    """The ``[T-1042]`` a subject names, or None (not proof of anything by itself)."""
    if not isinstance(subject, str):
        return None
    match = _SUBJECT_TICKET.search(subject)
    return match.group(1).upper() if match else None


def _one_line(text: str, limit: int) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def ticket_reply(
    ticket: TicketLike, *, agent: str, text: str, resume_url: str, settings: EmailSettings
) -> OutgoingEmail:
    """The mail carrying a CSR's answer to a ticket.

    Args:
        ticket: The ticket (its ``email`` is the recipient).
        agent: The CSR's display name, signed under the answer.
        text: The answer, as the CSR wrote it.
        resume_url: The link reopening the conversation in the widget
            (:meth:`handoff.core.resume_links.ResumeLinks.url`); empty for none.
        settings: The ``email:`` settings.

    Raises:
        InvalidInput: the ticket has no usable email address.
    """
    to = check_address(ticket.email, "email")
    subject = _one_line(ticket.subject, MAX_SUBJECT_CHARS - 12) or "Your request"
    lines = ["Hello,", "", text.strip(), "", f"{_one_line(agent, 80)}, {settings.from_name}"]
    if resume_url:
        days = settings.link_ttl_days
        lines += [
            "",
            "Continue the conversation in our chat, with everything said so far:",
            resume_url,
            f"(the link works for {days} day{'s' if days != 1 else ''})",
        ]
    lines += ["", f"Or simply reply to this email. Please keep [{ticket.id}] in the subject."]
    domain = domain_of(settings.from_address)
    return OutgoingEmail(
        to=to,
        subject=f"Re: [{ticket.id}] {subject}",
        text="\n".join(lines) + "\n",
        html=None,
        reply_to=reply_address(settings, ticket.id),
        message_id=f"<ticket-{ticket.id}.{uuid.uuid4().hex}@{domain}>",
        in_reply_to=thread_id(ticket.id, settings),
        ticket_id=ticket.id,
        sender=formataddr((_one_line(settings.from_name, 80), settings.from_address)),
        created_at=int(time.time()),  # whole seconds: exact through Lua's cjson
    )


# ---- the queue --------------------------------------------------------------------------------

Queued = Tuple[str, OutgoingEmail, int, str]  # stream id, mail, attempts so far, last error


class MailOutbox:
    """The durable queue of mails to send, shared by every instance.

    Args:
        redis: An asyncio Redis client with ``decode_responses=True``.
    """

    def __init__(self, redis: Redis):
        """Create the queue over one Redis client."""
        self._redis = redis
        self._move_due = redis.register_script(_MOVE_DUE)

    async def enqueue(self, email: OutgoingEmail) -> str:
        """Queue a mail for sending; returns its stream id.

        Raises:
            InvalidInput: the recipient is not an email address.
        """
        check_address(email.to, "to")
        return await self._redis.xadd(
            keys.MAIL_OUTBOX, {"email": json.dumps(email.to_dict()), "attempts": 0}
        )

    async def ensure_group(self) -> None:
        """Create the mailers' consumer group (from the start: mails queued before count)."""
        try:
            await self._redis.xgroup_create(keys.MAIL_OUTBOX, GROUP, id="0", mkstream=True)
        except Exception as exc:  # noqa: BLE001 - redis-py has no class of its own for it
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, consumer: str, *, count: int, block_ms: int) -> List[Queued]:
        """New mails for ``consumer``, waiting up to ``block_ms`` for one."""
        reply = await self._redis.xreadgroup(
            GROUP, consumer, {keys.MAIL_OUTBOX: ">"}, count=count, block=block_ms
        )
        return await self._parsed([e for _stream, entries in reply or [] for e in entries])

    async def reclaim(self, consumer: str, *, min_idle_ms: int, count: int) -> List[Queued]:
        """Mails another consumer read but never finished (it crashed), taken over."""
        reply = await self._redis.xautoclaim(
            keys.MAIL_OUTBOX, GROUP, consumer, min_idle_ms, start_id="0-0", count=count
        )
        return await self._parsed([(i, f) for i, f in reply[1] if f])

    async def _parsed(self, entries: List[Tuple[str, Mapping[str, str]]]) -> List[Queued]:
        """The entries as mails; one that is no mail is moved to the failures at once."""
        queued = []
        for entry_id, entry in entries:
            try:
                queued.append(_queued(entry_id, entry))
            except (KeyError, TypeError, ValueError) as exc:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.xadd(
                        keys.MAIL_FAILED,
                        {**entry, "reason": f"malformed outbox entry: {exc}"},
                        maxlen=FAILED_MAXLEN,
                        approximate=True,
                    )
                    pipe.xack(keys.MAIL_OUTBOX, GROUP, entry_id)
                    pipe.xdel(keys.MAIL_OUTBOX, entry_id)
                    await pipe.execute()
        return queued

    async def sent(self, entry_id: str) -> None:
        """The mail went out: forget it (the outbox keeps no customer's mail longer)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(keys.MAIL_OUTBOX, GROUP, entry_id)
            pipe.xdel(keys.MAIL_OUTBOX, entry_id)
            await pipe.execute()

    async def retry_later(
        self, entry_id: str, email: OutgoingEmail, attempts: int, error: str, due: float
    ) -> None:
        """A temporary failure: try again at ``due`` (epoch seconds)."""
        member = json.dumps(
            {
                "email": email.to_dict(),
                "attempts": attempts,
                "last_error": error,
                "uid": uuid.uuid4().hex,
            }
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.MAIL_RETRY, {member: due})
            pipe.xack(keys.MAIL_OUTBOX, GROUP, entry_id)
            pipe.xdel(keys.MAIL_OUTBOX, entry_id)
            await pipe.execute()

    async def failed(self, entry_id: str, email: OutgoingEmail, attempts: int, reason: str) -> str:
        """Give up on a mail: keep it in ``handoff:mail_failed`` with the reason."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                keys.MAIL_FAILED,
                {
                    "email": json.dumps(email.to_dict()),
                    "attempts": attempts,
                    "reason": reason,
                    "failed_at": time.time(),
                },
                maxlen=FAILED_MAXLEN,
                approximate=True,
            )
            pipe.xack(keys.MAIL_OUTBOX, GROUP, entry_id)
            pipe.xdel(keys.MAIL_OUTBOX, entry_id)
            failed_id, *_ = await pipe.execute()
        return failed_id

    async def move_due(self, now: float, *, count: int = 100) -> int:
        """Put the retries due by ``now`` back in the outbox; how many were moved."""
        return int(
            await self._move_due(keys=[keys.MAIL_RETRY, keys.MAIL_OUTBOX], args=[now, count])
        )

    async def next_retry_at(self) -> Optional[float]:
        """When the earliest waiting retry is due, or None."""
        first = await self._redis.zrange(keys.MAIL_RETRY, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def failures(self, count: int = 100) -> List[Dict[str, Any]]:
        """The newest mails given up on: {id, email, attempts, reason, failed_at}."""
        entries = await self._redis.xrevrange(keys.MAIL_FAILED, count=count)
        return [
            {
                "id": entry_id,
                "email": _json_or_none(f.get("email")),
                "attempts": int(f.get("attempts", 0)),
                "reason": f.get("reason", ""),
                "failed_at": float(f.get("failed_at", 0)),
            }
            for entry_id, f in entries
        ]


def _queued(entry_id: str, fields_: Mapping[str, str]) -> Queued:
    email = OutgoingEmail.from_dict(json.loads(fields_["email"]))
    return entry_id, email, int(fields_.get("attempts") or 0), fields_.get("last_error", "")


def _json_or_none(raw: Optional[str]) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
