"""The records the handoff domain works with: conversations and transcript messages."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Mapping, Optional

from handoff.core import lifecycle
from handoff.core.errors import InvalidInput
from handoff.core.lifecycle import State
from handoff.core.redaction import mask_transcript_text

PRIORITIES = ("low", "normal", "high", "urgent")
TRANSCRIPT_SENDERS = ("customer", "bot", "csr", "system")


@dataclass(frozen=True)
class Conversation:
    """One conversation as the handoff service sees it (times are epoch seconds).

    Attributes:
        id: Rasa's sender/conversation id.
        state: Lifecycle state.
        priority: ``low``, ``normal``, ``high`` or ``urgent``.
        reason: Why the bot escalated (``request_human``, ``nlu_fallback``, …).
        confidence: The confidence that triggered the escalation, if any.
        context: ``slots``, ``order``, ``page_url``, ``locale``, ``summary`` and any
            other JSON the bot adds.
        assigned_to: Username of the CSR who has it.
        created_at: First time the service saw the conversation.
        updated_at: Last change.
        waiting_since: When it entered the queue (this episode).
        claimed_at: When a CSR claimed it.
        first_csr_reply_at: When the CSR first wrote.
        closed_at: When it was closed.
        resolution: Resolution tag given at close.
        csat: The customer's 1–5 rating.
        ticket_email: Where to follow up, for tickets.
        escalations: How many times it entered the queue.
        position_at_escalation: Queue position when it entered (for wait estimates).
    """

    id: str
    state: State = State.BOT
    priority: str = "normal"
    reason: str = ""
    confidence: Optional[float] = None
    context: Dict[str, Any] = field(default_factory=dict)
    assigned_to: Optional[str] = None
    created_at: Optional[float] = None
    updated_at: Optional[float] = None
    waiting_since: Optional[float] = None
    claimed_at: Optional[float] = None
    first_csr_reply_at: Optional[float] = None
    closed_at: Optional[float] = None
    resolution: Optional[str] = None
    csat: Optional[int] = None
    ticket_email: Optional[str] = None
    escalations: int = 0
    position_at_escalation: Optional[int] = None

    def to_hash(self) -> Dict[str, str]:
        """Every field JSON-encoded, ready for HSET (None survives the round trip)."""
        data = asdict(self)
        data["state"] = self.state.value
        return {name: json.dumps(value) for name, value in data.items()}

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> "Conversation":
        """Rebuild a record from HGETALL output; unknown fields are ignored."""
        known = {f.name for f in fields(cls)}
        data = {}
        for name, value in raw.items():
            if name in known:
                data[name] = json.loads(value)
        data["state"] = lifecycle.as_state(data.get("state", State.BOT.value))
        return cls(**data)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly view for the API, with the events the console may offer."""
        data = asdict(self)
        data["state"] = self.state.value
        data["allowed_events"] = sorted(e.value for e in lifecycle.allowed_events(self.state))
        return data


def make_message(
    sender: str,
    text: str,
    timestamp: float,
    *,
    intent: Optional[str] = None,
    confidence: Optional[float] = None,
    agent: Optional[str] = None,
) -> Dict[str, Any]:
    """A transcript entry, without the optional keys that are None.

    Card, id and phone numbers and emails in ``text`` are masked, keeping what a CSR
    needs to confirm with the customer (``[card ending 4242]``, ``j***@example.com``):
    transcripts are shown to CSRs and kept for weeks, so they must never hold them in
    clear. The verified email reaches the CSR in the context's slots instead.

    Raises:
        InvalidInput: unknown sender or non-string text.
    """
    if sender not in TRANSCRIPT_SENDERS:
        raise InvalidInput(f"sender must be one of {', '.join(TRANSCRIPT_SENDERS)}")
    if not isinstance(text, str):
        raise InvalidInput("text must be a string")
    message = {
        "sender": sender,
        "text": mask_transcript_text(text),
        "timestamp": timestamp,
        "intent": intent,
        "confidence": confidence,
        "agent": agent,
    }
    return {k: v for k, v in message.items() if v is not None}


def check_transcript(messages: Any) -> List[Dict[str, Any]]:
    """Validate a transcript handed over by the bot.

    Raises:
        InvalidInput: not a list of messages with sender, text and timestamp.
    """
    if not isinstance(messages, list):
        raise InvalidInput("transcript must be a list")
    checked = []
    for item in messages:
        if not isinstance(item, Mapping):
            raise InvalidInput("transcript entries must be objects")
        checked.append(
            make_message(
                item.get("sender"),
                item.get("text"),
                float(item.get("timestamp") or 0.0),
                intent=item.get("intent"),
                confidence=item.get("confidence"),
                agent=item.get("agent"),
            )
        )
    return checked


def check_priority(priority: str) -> str:
    """Return ``priority`` if valid.

    Raises:
        InvalidInput: not one of :data:`PRIORITIES`.
    """
    if priority not in PRIORITIES:
        raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")
    return priority


def check_context(context: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Validate escalation context: a JSON object whose known keys have sane types.

    Raises:
        InvalidInput: wrong types or not JSON-serialisable.
    """
    context = dict(context or {})
    for key in ("slots", "order"):
        if context.get(key) is not None and not isinstance(context[key], Mapping):
            raise InvalidInput(f"context.{key} must be an object")
    for key in ("page_url", "locale", "summary"):
        if context.get(key) is not None and not isinstance(context[key], str):
            raise InvalidInput(f"context.{key} must be a string")
    try:
        json.dumps(context)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"context is not JSON-serialisable: {exc}") from exc
    return context
