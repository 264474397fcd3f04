"""Handoff metrics in Redis: samples recorded inside the store's transactions, and the summary.

Each kind of sample is a sorted set scored by time, so "since T" is a range
query and old samples are trimmed by score. The writers take a pipeline that
is already in MULTI, so a sample exists exactly when the change it measures
was committed (a lost claim race records no wait).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Dict, List, Optional

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from handoff.core import keys, stats

_ALL = (
    keys.METRICS_STARTED,
    keys.METRICS_ESCALATED,
    keys.METRICS_ESCALATIONS,
    keys.METRICS_WAITS,
    keys.METRICS_FIRST_REPLIES,
    keys.METRICS_CSAT,
    keys.METRICS_FOLLOWUPS,
    keys.METRICS_REOPENS,
    keys.METRICS_TICKET_REPLIES,
    keys.METRICS_TICKETS_SOLVED,
)
RECENT_WAITS = 50


def started(pipe: Pipeline, conv_id: str, at: float) -> None:
    """Count a conversation once, at its first sighting."""
    pipe.zadd(keys.METRICS_STARTED, {conv_id: at}, nx=True)


def escalated(pipe: Pipeline, conv_id: str, reason: str, at: float) -> None:
    """One escalation (and the conversation's first, for containment)."""
    started(pipe, conv_id, at)
    pipe.zadd(keys.METRICS_ESCALATED, {conv_id: at}, nx=True)
    pipe.zadd(keys.METRICS_ESCALATIONS, {_sample(conv=conv_id, reason=reason, at=at): at})


def waited(pipe: Pipeline, conv_id: str, wait: float, position: int, at: float) -> None:
    """How long a claimed conversation waited, and where it entered the queue."""
    pipe.zadd(keys.METRICS_WAITS, {_sample(conv=conv_id, wait=wait, position=position, at=at): at})


def first_reply(pipe: Pipeline, conv_id: str, seconds: float, at: float) -> None:
    """Seconds from escalation to the CSR's first message."""
    pipe.zadd(keys.METRICS_FIRST_REPLIES, {_sample(conv=conv_id, seconds=seconds, at=at): at})


def rated(
    pipe: Pipeline,
    conv_id: str,
    closed_at: Optional[float],
    previous: Optional[int],
    score: int,
    at: float,
) -> None:
    """A CSAT rating; a re-rating of the same closed conversation replaces the old one."""
    if previous is not None:
        pipe.zrem(keys.METRICS_CSAT, _csat_member(conv_id, closed_at, previous))
    pipe.zadd(keys.METRICS_CSAT, {_csat_member(conv_id, closed_at, score): at})


def followup_answered(
    pipe: Pipeline,
    subject: str,
    *,
    kind: str,
    solved: bool,
    resolver: str,
    csr: Optional[str],
    reason: str,
    at: float,
) -> None:
    """The customer's answer to "did that solve it?" (first-contact resolution).

    Args:
        subject: The conversation or ticket id asked about.
        kind: ``conversation`` or ``ticket``.
        resolver: ``bot`` or ``csr``: who had finished the case.
        csr: The CSR who had it, if one did.
        reason: The escalation reason (or the bot flow, e.g. ``order_status``).
    """
    sample = _sample(
        subject=subject, kind=kind, solved=solved, resolver=resolver, csr=csr, reason=reason, at=at
    )
    pipe.zadd(keys.METRICS_FOLLOWUPS, {sample: at})


def reopened(
    pipe: Pipeline, subject: str, *, kind: str, csr: Optional[str], reason: str, at: float
) -> None:
    """A finished case came back: a "no" to the follow-up, or a reply to a solved ticket."""
    sample = _sample(subject=subject, kind=kind, csr=csr, reason=reason, at=at)
    pipe.zadd(keys.METRICS_REOPENS, {sample: at})


def ticket_first_reply(
    pipe: Pipeline,
    ticket_id: str,
    *,
    seconds: float,
    met: bool,
    csr: Optional[str],
    reason: str,
    priority: str,
    at: float,
) -> None:
    """A ticket's first public reply: business seconds taken and whether the SLA target was met."""
    sample = _sample(
        ticket=ticket_id, seconds=seconds, met=met, csr=csr, reason=reason, priority=priority, at=at
    )
    pipe.zadd(keys.METRICS_TICKET_REPLIES, {sample: at})


def ticket_solved(
    pipe: Pipeline,
    ticket_id: str,
    *,
    seconds: float,
    met: bool,
    first_reply_met: Optional[bool],
    csr: Optional[str],
    reason: str,
    priority: str,
    at: float,
) -> None:
    """A ticket marked solved: business seconds since it opened, and whether that was in time."""
    sample = _sample(
        ticket=ticket_id,
        seconds=seconds,
        met=met,
        first_reply_met=first_reply_met,
        csr=csr,
        reason=reason,
        priority=priority,
        at=at,
    )
    pipe.zadd(keys.METRICS_TICKETS_SOLVED, {sample: at})


def trim(pipe: Pipeline, now: float, retention_seconds: float) -> None:
    """Drop samples older than the retention period."""
    for key in _ALL:
        pipe.zremrangebyscore(key, "-inf", now - retention_seconds)


async def recent_waits_per_position(redis: Redis, count: int = RECENT_WAITS) -> List[float]:
    """The latest waits, each divided by the queue position it started from."""
    samples = [json.loads(s) for s in await redis.zrevrange(keys.METRICS_WAITS, 0, count - 1)]
    return [s["wait"] / max(1, s.get("position") or 1) for s in samples]


async def summary(redis: Redis, since: Optional[float] = None) -> Dict[str, Any]:
    """Containment, escalations, waits, reply times and CSAT since ``since`` (epoch seconds).

    Containment counts conversations *started* since then that never escalated;
    the other figures count events since then.
    """
    low: Any = "-inf" if since is None else since
    conversations = await redis.zrangebyscore(keys.METRICS_STARTED, low, "+inf")
    firsts = await redis.zmscore(keys.METRICS_ESCALATED, conversations) if conversations else []
    n_escalated = sum(1 for score in firsts if score is not None)
    reasons = Counter(s["reason"] for s in await _samples(redis, keys.METRICS_ESCALATIONS, low))
    waits = [s["wait"] for s in await _samples(redis, keys.METRICS_WAITS, low)]
    replies = [s["seconds"] for s in await _samples(redis, keys.METRICS_FIRST_REPLIES, low)]
    ratings = [s["score"] for s in await _samples(redis, keys.METRICS_CSAT, low)]
    total = len(conversations)
    return {
        "since": since,
        "conversations": total,
        "escalated_conversations": n_escalated,
        "containment_rate": (total - n_escalated) / total if total else None,
        "escalations": sum(reasons.values()),
        "escalations_by_reason": dict(reasons),
        "queue_wait_seconds": _distribution(waits),
        "first_reply_seconds": _distribution(replies),
        "csat": {"average": stats.mean(ratings), "count": len(ratings)},
        "queue_length": await redis.zcard(keys.QUEUE),
    }


def _distribution(values: List[float]) -> Dict[str, Any]:
    return {
        "median": stats.median(values),
        "p90": stats.percentile(values, 90),
        "count": len(values),
    }


async def _samples(redis: Redis, key: str, low: Any) -> List[Dict[str, Any]]:
    return [json.loads(s) for s in await redis.zrangebyscore(key, low, "+inf")]


def _sample(**fields: Any) -> str:
    # Sorted keys: the same sample always serialises to the same member.
    return json.dumps(fields, sort_keys=True)


def _csat_member(conv_id: str, closed_at: Optional[float], score: int) -> str:
    return _sample(conv=conv_id, closed_at=closed_at, score=score)
