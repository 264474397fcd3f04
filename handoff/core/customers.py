"""Who a customer is, without keeping their email address in key names.

A customer is known by a keyed hash of their email address (HMAC-SHA256 under a key
derived from the handoff secret). Redis key names, logs and exports of key names then
name no one, a leaked key list reveals no addresses, and nobody without the secret can
test whether a given address is a customer.

:class:`CustomerProfiles` links a conversation to its customer once they proved who they
are (the action server does, on verification) and builds what the CSR's side panel shows:
their conversations, tickets, ratings and the order ids they proved.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

from redis.asyncio import Redis

from handoff.core import keys
from handoff.core.conversation import Conversation
from handoff.core.errors import InvalidInput
from handoff.core.text_rules import check_text

# Derive a key of its own from the secret, so the hash can never be confused with a
# token signature made with the same secret.
_PURPOSE = b"handoff customer identity v1"
MAX_EMAIL_CHARS = 320
MAX_PROFILE_CONVERSATIONS = 50  # the side panel shows the recent ones; export shows all
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
SUMMARY_FIELDS = ("state", "reason", "created_at", "closed_at", "resolution", "csat", "assigned_to")


def normalize_email(email: str) -> str:
    """The form two spellings of one address share (surrounding space, letter case)."""
    return email.strip().lower()


def customer_key(secret: str, email: str) -> str:
    """The customer id of ``email``: 64 hex digits, the same for every process with ``secret``."""
    key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, normalize_email(email).encode(), hashlib.sha256).hexdigest()


def check_email(value: Any, field: str = "email") -> str:
    """``value`` as an email address an identity can be derived from.

    Raises:
        InvalidInput: not a string, longer than an address can be, or not ``local@domain.tld``.
    """
    email = check_text(value, field, max_chars=MAX_EMAIL_CHARS).strip()
    if not _EMAIL.match(email):
        raise InvalidInput(f"`{field}` must be an email address like jane@example.com")
    return email


class CustomerProfiles:
    """Which conversations, orders and tickets belong to one customer.

    A conversation is linked to a customer when the customer proves who they are in it
    (an order number and the email or postcode on it). The link is kept under the
    customer's keyed hash (:func:`customer_key`): no key name holds an address.

    Args:
        redis: An asyncio Redis client (decoded replies).
        secret: The handoff secret the identity hash is keyed with.
        tickets: The ticket desk (:class:`handoff.core.tickets.TicketDesk`) whose
            ``for_customer`` lists a customer's tickets; None lists none.
        clock: Returns the current epoch time (tests pass a fake one).
    """

    def __init__(
        self,
        redis: Redis,
        secret: str,
        *,
        tickets: Any = None,
        clock: Callable[[], float] = time.time,
    ):
        """Keep the collaborators; nothing is read yet."""
        self._redis = redis
        self._secret = secret
        self._tickets = tickets
        self._clock = clock

    def key_for(self, email: str) -> str:
        """The customer key of ``email`` (see :func:`customer_key`)."""
        return customer_key(self._secret, email)

    async def link_conversation(
        self,
        conv_id: str,
        email: str,
        *,
        order_id: Optional[str] = None,
        order_ids: Iterable[str] = (),
        at: Optional[float] = None,
    ) -> str:
        """Link a conversation (and the orders proved in it) to the customer owning ``email``.

        Idempotent: proving again only moves the link's time forward. A conversation is
        one customer's: linking it to another moves it.

        Args:
            conv_id: Rasa's conversation id.
            email: The email address on the verified order(s), the customer's identity.
            order_id: The order the customer proved to be theirs.
            order_ids: More such orders (an email owner proved with a postcode).
            at: When (default now).

        Returns:
            The customer key.

        Raises:
            InvalidInput: a malformed conversation id or email address.
        """
        if not keys.check_id(conv_id):
            raise InvalidInput("conversation id must be 1-128 letters, digits or _.:@+-")
        key = self.key_for(check_email(email))
        orders = [o for o in (order_id, *order_ids) if o]
        now = self._clock() if at is None else at
        previous = await self._redis.get(keys.conversation_customer(conv_id))
        async with self._redis.pipeline(transaction=True) as pipe:
            if previous and previous != key:
                pipe.zrem(keys.customer_conversations(previous), conv_id)
            pipe.zadd(keys.customer_conversations(key), {conv_id: now})
            if orders:
                pipe.sadd(keys.customer_orders(key), *orders)
            pipe.set(keys.conversation_customer(conv_id), key)
            await pipe.execute()
        return key

    async def key_of_conversation(self, conv_id: str) -> Optional[str]:
        """The customer key of a conversation, or None while nobody proved who they are in it."""
        if not keys.check_id(conv_id):
            raise InvalidInput("conversation id must be 1-128 letters, digits or _.:@+-")
        return await self._redis.get(keys.conversation_customer(conv_id))

    async def conversation_ids(self, customer: str) -> List[str]:
        """The customer's conversation ids, the most recently verified first."""
        return await self._redis.zrevrange(keys.customer_conversations(customer), 0, -1)

    async def order_ids(self, customer: str) -> List[str]:
        """The order ids the customer proved to be theirs, sorted."""
        return sorted(await self._redis.smembers(keys.customer_orders(customer)))

    async def tickets_of(self, customer: str) -> List[Any]:
        """The customer's tickets (none without a ticket desk)."""
        if self._tickets is None:
            return []
        return list(await self._tickets.for_customer(customer))

    async def profile(self, customer: str) -> Dict[str, Any]:
        """What the CSR's side panel shows: conversations, tickets, ratings and order ids.

        Conversations come newest first; one without a handoff record (the bot handled it,
        or its record expired) is listed with ``state`` None.
        """
        scored = await self._redis.zrevrange(
            keys.customer_conversations(customer), 0, MAX_PROFILE_CONVERSATIONS - 1, withscores=True
        )
        async with self._redis.pipeline(transaction=False) as pipe:
            for conv_id, _ in scored:
                pipe.hgetall(keys.conversation(conv_id))
            records = await pipe.execute() if scored else []
        conversations = [
            _conversation_summary(conv_id, linked_at, raw)
            for (conv_id, linked_at), raw in zip(scored, records, strict=True)
        ]
        tickets = [t.to_dict() for t in await self.tickets_of(customer)]
        ratings = [
            {"conversation_id": c["id"], "score": c["csat"], "at": c["closed_at"]}
            for c in conversations
            if c["csat"] is not None
        ]
        return {
            "customer": customer,
            "conversations": conversations,
            "tickets": tickets,
            "ratings": ratings,
            "order_ids": await self.order_ids(customer),
        }

    async def unlink(self, conv_ids: Iterable[str]) -> int:
        """Forget the customer links of these conversations (retention, erasure).

        A customer left with no conversation loses the order ids proved in them too.

        Returns:
            How many links there were.
        """
        conv_ids = list(conv_ids)
        if not conv_ids:
            return 0
        owners = await self._redis.mget([keys.conversation_customer(c) for c in conv_ids])
        linked = {c: k for c, k in zip(conv_ids, owners, strict=True) if k}
        async with self._redis.pipeline(transaction=True) as pipe:
            for conv_id, key in linked.items():
                pipe.zrem(keys.customer_conversations(key), conv_id)
            pipe.delete(*(keys.conversation_customer(c) for c in conv_ids))
            await pipe.execute()
        for key in set(linked.values()):
            if not await self._redis.zcard(keys.customer_conversations(key)):
                await self._redis.delete(keys.customer_orders(key))
        return len(linked)

    async def forget(self, customer: str) -> int:
        """Delete every link of one customer (erasure); returns how many keys went."""
        conv_ids = await self.conversation_ids(customer)
        await self.unlink(conv_ids)
        return await self._redis.delete(
            keys.customer_conversations(customer), keys.customer_orders(customer)
        )

    async def links(self) -> Dict[str, float]:
        """Every linked conversation id -> when it was last verified (for the retention sweep)."""
        found: Dict[str, float] = {}
        async for key in self._redis.scan_iter(match=keys.customer_conversations("*"), count=500):
            for conv_id, at in await self._redis.zrange(key, 0, -1, withscores=True):
                found[conv_id] = max(at, found.get(conv_id, at))
        return found


def _conversation_summary(conv_id: str, linked_at: float, raw: Mapping[str, Any]) -> Dict[str, Any]:
    conv = Conversation.from_hash(raw) if raw else None
    summary: Dict[str, Any] = {"id": conv_id, "linked_at": linked_at}
    for name in SUMMARY_FIELDS:
        summary[name] = getattr(conv, name) if conv is not None else None
    summary["state"] = conv.state.value if conv is not None else None
    return summary
