"""The review list: customer messages the bot handled badly, read from Rasa's tracker store.

A customer message is a candidate when it fell back, its intent confidence was
low, the conversation escalated right after it, or the conversation got a low
CSAT rating. Candidates are grouped by their normalised text, so a question
asked thirty times is reviewed once, with its count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from rasa_sdk import Tracker
from redis.asyncio import Redis

from bot.evaluation.scoring import FALLBACK, faq_label
from bot.retraining import inputs, keys
from bot.retraining.errors import InvalidFilter
from bot.retraining.nlu_data import normalise
from handoff.core.conversation import Conversation
from handoff.core.errors import ConversationNotFound, InvalidInput
from handoff.core.redaction import mask_transcript_text
from handoff.core.settings import RetrainingConfig
from handoff.core.store import read_conversation

REASONS = ("fallback", "low_confidence", "escalation", "low_csat")
FALLBACK_ACTIONS = frozenset(
    {
        "action_default_fallback",
        "action_handle_fallback",
        "action_two_stage_fallback",
        "action_core_fallback",
    }
)
LOW_CSAT = 2
# A pause (escalation) counts against the message just before it and the one
# before that: the bot escalates on the second misunderstanding in a row.
ESCALATION_WINDOW = 2
TICKET_REASON_SLOT = "ticket_reason"  # set by actions/handoff.py when it offers a ticket
CONTEXT_BEFORE, CONTEXT_AFTER = 3, 2

When = Union[None, float, int, str, dt.date, dt.datetime]


@dataclass
class ReviewItem:
    """One distinct customer message to review, with every time it was sent."""

    id: str
    text: str
    count: int
    predicted_intent: Optional[str]
    confidence: Optional[float]
    reasons: List[str]
    first_seen: str
    last_seen: str
    conversations: List[str]
    context: List[Dict[str, Any]]
    status: str = "open"
    escalation_reasons: List[str] = field(default_factory=list)
    decision: Optional[Dict[str, Any]] = None

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready form (the admin API's ``ReviewItem``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ReviewItem":
        """Rebuild an item stored with :meth:`to_dict`."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Occurrence:
    """One customer message in one conversation, with why it is a candidate."""

    conversation: str
    text: str
    at: float
    intent: Optional[str]
    confidence: Optional[float]
    reasons: set = field(default_factory=set)
    escalation_reason: Optional[str] = None
    context: List[Dict[str, Any]] = field(default_factory=list)


async def build_review(
    redis: Redis,
    config: RetrainingConfig,
    *,
    threshold: Optional[float] = None,
    since: When = None,
    until: When = None,
    intent: Optional[str] = None,
    reason: Optional[str] = None,
    include_decided: bool = False,
) -> List[ReviewItem]:
    """Every review item of the logged conversations, most frequent first.

    Args:
        redis: Client on the database holding Rasa's trackers and the handoff records.
        config: Retraining settings (tracker key prefix, default threshold).
        threshold: Intent confidence below which a message is "low_confidence"
            (default ``config.low_confidence_threshold``).
        since: Only messages sent at or after this (epoch seconds, ISO date or datetime).
        until: Only messages sent at or before this (a bare date means the whole day).
        intent: Only items predicted as this intent (``faq`` matches every ``faq/<topic>``).
        reason: Only items with this reason (one of ``REASONS``).
        include_decided: Also list items an admin already labelled.

    Raises:
        InvalidFilter: threshold outside 0–1, unknown reason, unreadable date, an
            intent that is no intent name.
    """
    threshold = _threshold(config.low_confidence_threshold if threshold is None else threshold)
    start, end = _epoch(since, "since", end_of_day=False), _epoch(until, "until", end_of_day=True)
    if reason is not None:
        inputs.one_of(reason, "reason", InvalidFilter, REASONS)
    if intent not in (None, ""):
        hint = "an intent name such as order_status or faq"
        inputs.name(intent, "intent", InvalidFilter, inputs.INTENT, hint=hint)
    found: List[Occurrence] = []
    async for conv_id, events in tracker_events(redis, config.tracker_key_prefix):
        record = await _handoff_record(redis, conv_id)
        found += candidates(conv_id, events, record, threshold)
    found = [o for o in found if (start is None or o.at >= start) and (end is None or o.at <= end)]
    items = group(found)
    items = [i for i in items if _matches(i, intent, reason)]
    await _remember(redis, items, ttl_seconds=config.item_ttl_days * 86400)
    return await _with_status(redis, items, include_decided)


async def tracker_events(redis: Redis, key_prefix: str) -> Any:
    """(conversation id, events) of every tracker in Rasa's RedisTrackerStore."""
    prefix = keys.tracker_prefix(key_prefix)
    async for key in redis.scan_iter(match=keys.trackers(key_prefix), count=500):
        raw = await redis.get(key)
        if raw is None:
            continue  # expired between SCAN and GET
        try:
            dialogue = json.loads(raw)
        except ValueError:
            continue  # not a tracker someone else wrote under the prefix
        yield key[len(prefix) :], dialogue.get("events") or []


def candidates(
    conv_id: str,
    events: Sequence[Mapping[str, Any]],
    record: Optional[Conversation],
    threshold: float,
) -> List[Occurrence]:
    """The review candidates of one conversation's events.

    Only the applied events count: what a restart, a rewind or an undo took back
    is left out, as the bot itself forgets it (rasa-sdk's ``applied_events``).
    """
    turns: List[Dict[str, Any]] = []
    messages: List[Tuple[Occurrence, int]] = []  # occurrence, index of its turn
    paused = False
    since_user: Optional[Occurrence] = None
    for event in _applied_events(conv_id, events):
        kind = event.get("event")
        if kind == "user" and event.get("text"):
            turns.append(_turn("customer", event))
            since_user = None
            # While paused a CSR has the conversation: those messages were never meant for the bot.
            if not paused and not str(event["text"]).startswith("/"):
                since_user = _occurrence(conv_id, event)
                messages.append((since_user, len(turns) - 1))
        elif kind == "bot" and event.get("text"):
            agent = (event.get("metadata") or {}).get("agent")
            turns.append(_turn("csr" if agent else "bot", event))
        elif kind == "action" and event.get("name") in FALLBACK_ACTIONS and since_user:
            since_user.reasons.add("fallback")
        elif kind == "pause" and not paused:
            paused = True
            _escalated(messages, record.reason if record and record.reason else None)
        elif kind == "slot" and event.get("name") == TICKET_REASON_SLOT and event.get("value"):
            # Out of business hours an escalation offers a ticket instead of pausing.
            _escalated(messages, str(event["value"]))
        elif kind == "resume":
            paused = False
    for occurrence, index in messages:
        _add_reasons(occurrence, record, threshold)
        start = max(0, index - CONTEXT_BEFORE)
        occurrence.context = turns[start : index + CONTEXT_AFTER + 1]
    return [o for o, _ in messages if o.reasons]


def group(occurrences: Iterable[Occurrence]) -> List[ReviewItem]:
    """One item per normalised text: most frequent first, then most recent."""
    groups: Dict[str, List[Occurrence]] = {}
    for occurrence in occurrences:
        key = normalise(occurrence.text)
        if key:
            groups.setdefault(key, []).append(occurrence)
    items = [_item(key, sorted(group, key=lambda o: o.at)) for key, group in groups.items()]
    return sorted(items, key=lambda i: (-i.count, _negated(i.last_seen), i.id))


def item_id(text: str) -> str:
    """Stable id of a message text (the same question always has the same id)."""
    return _hash(normalise(text))


async def remembered_item(redis: Redis, item_id: str) -> Optional[ReviewItem]:
    """The item as it was last listed (what an admin saw when deciding)."""
    raw = await redis.get(keys.item(item_id))
    return ReviewItem.from_dict(json.loads(raw)) if raw else None


# ---- helpers ------------------------------------------------------------------------------


def _hash(key: str) -> str:
    # surrogatepass: a lone surrogate logged before text was validated must not break the
    # list; for every other text the id is the same as ever.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _applied_events(conv_id: str, events: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """The events of a logged tracker that a restart, rewind or undo did not take back."""
    events = [e for e in events if isinstance(e, Mapping) and "event" in e]
    return Tracker.from_dict({"sender_id": conv_id, "events": events}).applied_events()


def _occurrence(conv_id: str, event: Mapping[str, Any]) -> Occurrence:
    intent, confidence = predicted(event.get("parse_data") or {})
    occurrence = Occurrence(
        conv_id, str(event["text"]), float(event.get("timestamp") or 0.0), intent, confidence
    )
    if (event.get("parse_data") or {}).get("intent", {}).get("name") == FALLBACK:
        occurrence.reasons.add("fallback")
    return occurrence


def predicted(parse: Mapping[str, Any]) -> Tuple[Optional[str], Optional[float]]:
    """The best real intent of a parse and its confidence (the fallback hides it otherwise)."""
    intent = parse.get("intent") or {}
    if intent.get("name") == FALLBACK:
        ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK]
        intent = ranking[0] if ranking else {}
    name, confidence = intent.get("name"), intent.get("confidence")
    if name == "faq":
        name = faq_label(dict(parse))
    return name, None if confidence is None else float(confidence)


def _escalated(messages: List[Tuple[Occurrence, int]], reason: Optional[str]) -> None:
    for occurrence, _ in messages[-ESCALATION_WINDOW:]:
        occurrence.reasons.add("escalation")
        occurrence.escalation_reason = reason


def _add_reasons(occurrence: Occurrence, record: Optional[Conversation], threshold: float) -> None:
    if occurrence.confidence is None or occurrence.confidence < threshold:
        occurrence.reasons.add("low_confidence")
    if record is not None and record.csat is not None and record.csat <= LOW_CSAT:
        occurrence.reasons.add("low_csat")


def _turn(sender: str, event: Mapping[str, Any]) -> Dict[str, Any]:
    return {
        "sender": sender,
        "text": mask_transcript_text(str(event.get("text"))),
        "at": _iso(float(event.get("timestamp") or 0.0)),
    }


def _item(key: str, occurrences: List[Occurrence]) -> ReviewItem:
    latest = occurrences[-1]
    intents = Counter(o.intent for o in occurrences if o.intent)
    confidences = [o.confidence for o in occurrences if o.confidence is not None]
    reasons = set().union(*(o.reasons for o in occurrences))
    return ReviewItem(
        id=_hash(key),
        # Masked as in a transcript (j***@example.com): labelling it writes the training
        # placeholders ([email]) through nlu_data.clean_text.
        text=" ".join(mask_transcript_text(latest.text).split()),
        count=len(occurrences),
        predicted_intent=intents.most_common(1)[0][0] if intents else None,
        confidence=round(sum(confidences) / len(confidences), 4) if confidences else None,
        reasons=[r for r in REASONS if r in reasons],
        first_seen=_iso(occurrences[0].at),
        last_seen=_iso(latest.at),
        conversations=list(dict.fromkeys(o.conversation for o in occurrences)),
        context=latest.context,
        escalation_reasons=sorted(
            {o.escalation_reason for o in occurrences if o.escalation_reason}
        ),
    )


def _matches(item: ReviewItem, intent: Optional[str], reason: Optional[str]) -> bool:
    if reason and reason not in item.reasons:
        return False
    if intent:
        name = item.predicted_intent or ""
        return name == intent or (intent == "faq" and name.startswith("faq/"))
    return True


async def _remember(redis: Redis, items: List[ReviewItem], *, ttl_seconds: int) -> None:
    # Items quote customers (masked, but still their words and context): they
    # expire like the conversation records they come from.
    async with redis.pipeline(transaction=False) as pipe:
        for item in items:
            pipe.set(keys.item(item.id), json.dumps(item.to_dict()), ex=ttl_seconds)
        pipe.delete(keys.LEGACY_ITEMS)
        await pipe.execute()


async def _with_status(
    redis: Redis, items: List[ReviewItem], include_decided: bool
) -> List[ReviewItem]:
    if not items:
        return items
    decisions = await redis.hmget(keys.DECISIONS, [i.id for i in items])
    kept = []
    for item, raw in zip(items, decisions, strict=True):
        if raw:
            item.decision = json.loads(raw)
            item.status = item.decision["action"]
        if include_decided or item.status == "open":
            kept.append(item)
    return kept


async def _handoff_record(redis: Redis, conv_id: str) -> Optional[Conversation]:
    try:
        return await read_conversation(redis, conv_id)
    except (ConversationNotFound, InvalidInput):
        return None  # never escalated, expired, or an id the handoff service would not accept


def _threshold(value: Any) -> float:
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        shown = repr(value)[:40]
        raise InvalidFilter(f"threshold must be a number from 0 to 1, not {shown}") from None
    if not 0 <= threshold <= 1:
        raise InvalidFilter(f"threshold must be from 0 to 1, not {threshold}")
    return threshold


def _epoch(value: When, field: str, *, end_of_day: bool) -> Optional[float]:
    """Epoch seconds of a filter bound; a bare date covers its whole day (UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        value = _parse_iso(inputs.text(value, field, InvalidFilter, max_chars=64))
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return aware.timestamp()
    if isinstance(value, dt.date):
        start = dt.datetime.combine(value, dt.time(), tzinfo=dt.timezone.utc).timestamp()
        return start + 86400 - 1e-6 if end_of_day else start
    raise InvalidFilter(f"{value!r} is not a date")


def _parse_iso(value: str) -> Union[dt.date, dt.datetime]:
    try:
        if "T" in value or ":" in value:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidFilter(f"{value!r} is not an ISO 8601 date or time") from None


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="seconds")


def _negated(iso: str) -> float:
    return -dt.datetime.fromisoformat(iso).timestamp()
