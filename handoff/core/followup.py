"""The follow-up question, "Did that solve it?", and what its answer leads to.

Asked when a case ends: after the bot finishes an order status, return, refund or
cancellation flow (the action server asks through the bot's reply), and after a CSR
closes a chat (:meth:`handoff.core.csr_desk.HandoffService.close`). The question is an
outbox message of kind ``followup_request`` whose Yes/No buttons carry
``/followup_answer{"solved": true}``; the widget channel intercepts that payload before
Rasa, as it does CSAT ratings, and calls :meth:`Followups.answer`.

One record per conversation (``handoff:followup:{id}``, expiring) remembers who finished
the case (``bot`` or ``csr``), the CSR, the flow or escalation reason, and the answer:

* every answer is a ``metrics.followup_answered`` sample (first-contact resolution);
* a "no" is also a ``metrics.reopened`` sample (the reopen rate), and the customer is
  offered a person;
* CSAT follows where it was not asked yet: after any answer to a CSR's close, and after a
  "yes" to a flow the bot finished. A rating of a bot-finished case has no closed
  handoff record to live on, so :meth:`Followups.rate` keeps it here.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from handoff.core import events, keys, metrics
from handoff.core.errors import Conflict, ConversationNotFound, InvalidInput
from handoff.core.store import HandoffStore
from handoff.core.transactions import Writer, watched

KIND = "followup_request"
QUESTION = "Did that solve it?"
RESOLVERS = ("bot", "csr")
# The bot flows that end with the question (the ``reason`` of a bot-resolved follow-up).
BOT_FLOWS = ("order_status", "return", "refund_status", "cancellation")
DEFAULT_TTL_SECONDS = 7 * 86400  # as long as the outbox keeps the question
SOLVED_TEXT = "Great, I'm glad that's sorted!"
NOT_SOLVED_TEXT = (
    "I'm sorry it isn't sorted yet. Would you like to talk to a person from our team? "
    "You can also tell me more and I'll try again."
)
PERSON_BUTTON = {"title": "Talk to a person", "payload": "/request_human"}
_PAYLOAD = re.compile(r"^/followup_answer(?![\w.-])(.*)$", re.DOTALL)
# Typed answers count only while the question is the newest message (see the channel).
_YES = {"yes", "y", "yes!", "yep", "yeah", "yes thanks", "yes, thanks", "it did", "solved"}
_NO = {"no", "n", "nope", "no.", "not really", "it didn't", "it did not", "not solved"}
_MAX_RETRIES = 20


def buttons() -> List[Dict[str, str]]:
    """The Yes/No buttons of the question."""
    return [
        {"title": "Yes", "payload": '/followup_answer{"solved": true}'},
        {"title": "No", "payload": '/followup_answer{"solved": false}'},
    ]


def request_message() -> Dict[str, Any]:
    """The outbox message asking the question (the CSR close path appends it)."""
    return {"sender": "system", "kind": KIND, "text": QUESTION, "buttons": buttons()}


def is_request(message_buttons: Any) -> bool:
    """Whether ``message_buttons`` are the question's (a bot reply asking it gets its kind)."""
    return (
        isinstance(message_buttons, list)
        and bool(message_buttons)
        and all(
            isinstance(b, Mapping) and _PAYLOAD.match(str(b.get("payload") or ""))
            for b in message_buttons
        )
    )


def is_payload(text: str) -> bool:
    """Whether ``text`` is a ``/followup_answer`` button payload (well-formed or not)."""
    return bool(_PAYLOAD.match(text.strip()))


def parse_answer(text: str, *, typed_answers: bool = False) -> Optional[bool]:
    """The answer in ``text``: a button payload, or (when ``typed_answers``) a plain yes/no.

    Returns:
        True (solved), False (not solved) or None when ``text`` is no answer.

    Raises:
        InvalidInput: a ``/followup_answer`` payload without a boolean ``solved``.
    """
    stripped = text.strip()
    match = _PAYLOAD.match(stripped)
    if match:
        try:
            entities = json.loads(match.group(1).strip() or "{}")
        except ValueError:
            entities = {}
        solved = entities.get("solved") if isinstance(entities, dict) else None
        if not isinstance(solved, bool):
            raise InvalidInput("`solved` must be true or false", code="invalid_input")
        return solved
    if typed_answers:
        word = stripped.lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    return None


@dataclass(frozen=True)
class Answer:
    """A recorded answer and what should follow it.

    Attributes:
        conversation_id: The conversation asked.
        solved: The customer's answer.
        resolver: ``bot`` or ``csr``: who had finished the case.
        csr: The CSR who closed it, for ``csr``.
        reason: The bot flow or the escalation reason.
        ask_csat: Ask for a rating next (it was not asked for this case yet).
    """

    conversation_id: str
    solved: bool
    resolver: str
    csr: Optional[str]
    reason: str
    ask_csat: bool

    def replies(self) -> List[Dict[str, Any]]:
        """The messages answering the answer (the CSAT question is the caller's to add)."""
        if self.solved:
            return [{"kind": "followup_thanks", "text": SOLVED_TEXT}]
        return [{"kind": "followup_offer", "text": NOT_SOLVED_TEXT, "buttons": [PERSON_BUTTON]}]


class Followups:
    """Follow-up questions and their answers, one record per conversation.

    Args:
        redis: An asyncio Redis client with decoded replies.
        store: The handoff records (a CSR-closed case reads whether CSAT was given).
        ttl_seconds: How long an unanswered question (and an answered case's rating) is kept.
        metrics_retention_seconds: Samples older than this are trimmed.
        clock: Returns the current epoch time.
    """

    def __init__(
        self,
        redis: Redis,
        store: HandoffStore,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        metrics_retention_seconds: int = 90 * 86400,
        clock: Callable[[], float] = time.time,
    ):
        """Keep the collaborators; nothing is read yet."""
        self._redis = redis
        self._store = store
        self._ttl = ttl_seconds
        self._retention = metrics_retention_seconds
        self._clock = clock

    async def ask(
        self, conv_id: str, *, resolver: str, reason: str, csr: Optional[str] = None
    ) -> Dict[str, Any]:
        """Record that the question is being asked; return the message that asks it.

        A new question replaces an unanswered one; whether CSAT was asked for a bot
        flow is kept, so a customer is rated once per conversation, not once per flow.

        Raises:
            InvalidInput: bad conversation id, resolver or reason.
        """
        _check_id(conv_id)
        if resolver not in RESOLVERS:
            raise InvalidInput(f"resolver must be one of {', '.join(RESOLVERS)}")
        if not isinstance(reason, str) or not 0 < len(reason) <= 64:
            raise InvalidInput("reason must be a string of 1-64 characters")
        now = self._clock()
        key = keys.followup(conv_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(key, "answered_at", "solved", "csat_for")
            pipe.hset(
                key,
                mapping={
                    "status": "pending",
                    "resolver": resolver,
                    "csr": csr or "",
                    "reason": reason,
                    "asked_at": repr(now),
                },
            )
            pipe.expire(key, self._ttl)
            await pipe.execute()
        return request_message()

    async def pending(self, conv_id: str) -> Optional[Dict[str, Any]]:
        """The unanswered question of ``conv_id`` (resolver, csr, reason, asked_at), or None."""
        record = await self._redis.hgetall(keys.followup(_check_id(conv_id)))
        if record.get("status") != "pending":
            return None
        return _view(record)

    async def answer(self, conv_id: str, solved: bool) -> Answer:
        """Record the customer's answer and the metrics it feeds.

        Raises:
            Conflict: no question is waiting for an answer (``no_followup``).
        """
        key = keys.followup(_check_id(conv_id))

        async def decide(pipe: Pipeline) -> Tuple[Answer, Writer]:
            record = await pipe.hgetall(key)
            if record.get("status") != "pending":
                raise Conflict("there is no open question to answer", code="no_followup")
            answer = await self._decide(conv_id, record, solved)
            now = self._clock()
            return answer, lambda pipe: self._write_answer(pipe, key, answer, now)

        return await watched(
            self._redis,
            key,
            decide,
            retries=_MAX_RETRIES,
            busy=f"the follow-up of {conv_id!r} is changing too fast; try again",
        )

    async def csat_for(self, conv_id: str) -> Optional[str]:
        """Who the outstanding CSAT question of ``conv_id`` rates: ``bot``, ``csr`` or None."""
        value = await self._redis.hget(keys.followup(_check_id(conv_id)), "csat_for")
        return value or None

    async def rate(self, conv_id: str, score: int) -> int:
        """Record a 1-5 rating of a case the bot finished (a re-rating replaces it).

        Raises:
            InvalidInput: not an integer from 1 to 5.
            Conflict: no rating of a bot-finished case was asked (``cannot_rate``).
        """
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidInput("rating must be an integer from 1 to 5")
        key = keys.followup(_check_id(conv_id))

        async def decide(pipe: Pipeline) -> Tuple[int, Writer]:
            record = await pipe.hgetall(key)
            if record.get("csat_for") != "bot":
                raise Conflict("no rating was asked for", code="cannot_rate")
            previous = int(record["csat"]) if record.get("csat") else None
            # The episode a bot-finished rating belongs to: when it was asked.
            episode = float(record.get("csat_asked_at") or record.get("asked_at") or 0)
            now = self._clock()

            def write(pipe: Pipeline) -> None:
                pipe.hset(key, "csat", str(score))
                pipe.expire(key, self._ttl)
                metrics.rated(
                    pipe, conv_id, episode, previous, score, now, reason=record.get("reason")
                )
                events.publish(
                    pipe,
                    {
                        "type": "conversation.rated",
                        "conversation_id": conv_id,
                        "csat": score,
                        "resolver": "bot",
                        "reason": record.get("reason") or "",
                        "at": now,
                    },
                )

            return score, write

        return await watched(
            self._redis,
            key,
            decide,
            retries=_MAX_RETRIES,
            busy=f"the rating of {conv_id!r} is changing too fast; try again",
        )

    async def delete(self, conv_id: str) -> None:
        """Forget the follow-up of ``conv_id`` (erasure)."""
        await self._redis.delete(keys.followup(_check_id(conv_id)))

    async def _decide(self, conv_id: str, record: Mapping[str, str], solved: bool) -> Answer:
        resolver = record.get("resolver") or "bot"
        if resolver == "csr":
            try:
                conv = await self._store.get(conv_id)
            except ConversationNotFound:
                conv = None
            ask_csat = conv is not None and conv.closed_at is not None and conv.csat is None
        else:
            ask_csat = solved and not record.get("csat_asked_at")
        return Answer(
            conversation_id=conv_id,
            solved=solved,
            resolver=resolver,
            csr=record.get("csr") or None,
            reason=record.get("reason") or "",
            ask_csat=ask_csat,
        )

    def _write_answer(self, pipe: Any, key: str, answer: Answer, now: float) -> None:
        fields = {"status": "answered", "answered_at": repr(now), "solved": int(answer.solved)}
        if answer.ask_csat:
            fields.update(csat_for=answer.resolver, csat_asked_at=repr(now))
        pipe.hset(key, mapping=fields)
        pipe.expire(key, self._ttl)
        common = {"csr": answer.csr, "reason": answer.reason, "at": now}
        metrics.followup_answered(
            pipe,
            answer.conversation_id,
            kind="conversation",
            solved=answer.solved,
            resolver=answer.resolver,
            **common,
        )
        if not answer.solved:
            metrics.reopened(pipe, answer.conversation_id, kind="conversation", **common)
        metrics.trim(pipe, now, self._retention)
        events.publish(
            pipe,
            {
                "type": "followup.answered",
                "conversation_id": answer.conversation_id,
                "solved": answer.solved,
                "resolver": answer.resolver,
                **common,
            },
        )


def _view(record: Mapping[str, str]) -> Dict[str, Any]:
    return {
        "resolver": record.get("resolver"),
        "csr": record.get("csr") or None,
        "reason": record.get("reason") or "",
        "asked_at": float(record.get("asked_at") or 0),
    }


def _check_id(conv_id: str) -> str:
    if not keys.check_id(conv_id):
        raise InvalidInput("conversation id must be 1-128 letters, digits or _.:@+-")
    return conv_id
