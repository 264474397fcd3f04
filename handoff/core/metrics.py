"""Handoff metrics in Redis: samples recorded inside the store's transactions, and the summary.

Each kind of sample is a sorted set scored by time, so "since T" is a range
query and old samples are trimmed by score. The writers take a pipeline that
is already in MULTI, so a sample exists exactly when the change it measures
was committed (a lost claim race records no wait). Samples carry the CSR and the
escalation reason, which the metrics page filters by.

The reading side, :func:`summary` and :func:`series`, hands the samples of a period to
:mod:`handoff.core.metric_figures`, which computes the figures (docs/handoff.md, "Metrics").
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Dict, List, Optional

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from handoff.core import keys, metric_figures

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
# Samples field -> the sorted set holding those samples (JSON members).
_SAMPLE_KEYS = {
    "escalations": keys.METRICS_ESCALATIONS,
    "waits": keys.METRICS_WAITS,
    "first_replies": keys.METRICS_FIRST_REPLIES,
    "csat": keys.METRICS_CSAT,
    "followups": keys.METRICS_FOLLOWUPS,
    "reopens": keys.METRICS_REOPENS,
    "ticket_replies": keys.METRICS_TICKET_REPLIES,
    "tickets_solved": keys.METRICS_TICKETS_SOLVED,
}


def started(pipe: Pipeline, conv_id: str, at: float) -> None:
    """Count a conversation once, at its first sighting."""
    pipe.zadd(keys.METRICS_STARTED, {conv_id: at}, nx=True)


def escalated(pipe: Pipeline, conv_id: str, reason: str, at: float) -> None:
    """One escalation (and the conversation's first, for containment)."""
    started(pipe, conv_id, at)
    pipe.zadd(keys.METRICS_ESCALATED, {conv_id: at}, nx=True)
    pipe.zadd(keys.METRICS_ESCALATIONS, {_sample(conv=conv_id, reason=reason, at=at): at})


def waited(
    pipe: Pipeline,
    conv_id: str,
    wait: float,
    position: int,
    at: float,
    *,
    csr: Optional[str] = None,
    reason: Optional[str] = None,
) -> None:
    """How long a claimed conversation waited, and where it entered the queue.

    Args:
        csr: Who claimed it; ``reason``: why it escalated (both for the filters).
    """
    sample = _sample(conv=conv_id, wait=wait, position=position, csr=csr, reason=reason, at=at)
    pipe.zadd(keys.METRICS_WAITS, {sample: at})


def first_reply(
    pipe: Pipeline,
    conv_id: str,
    seconds: float,
    at: float,
    *,
    csr: Optional[str] = None,
    reason: Optional[str] = None,
) -> None:
    """Seconds from escalation to the CSR's (``csr``) first message."""
    sample = _sample(conv=conv_id, seconds=seconds, csr=csr, reason=reason, at=at)
    pipe.zadd(keys.METRICS_FIRST_REPLIES, {sample: at})


def rated(
    pipe: Pipeline,
    conv_id: str,
    closed_at: Optional[float],
    previous: Optional[int],
    score: int,
    at: float,
    *,
    csr: Optional[str] = None,
    reason: Optional[str] = None,
) -> None:
    """A CSAT rating; a re-rating of the same closed conversation replaces the old one.

    Args:
        csr: The CSR who closed it; ``reason``: why it had escalated.
    """
    if previous is not None:
        # The rating replaced may predate csr/reason in the samples: drop either form.
        pipe.zrem(
            keys.METRICS_CSAT,
            _csat_member(conv_id, closed_at, previous, csr, reason),
            _sample(conv=conv_id, closed_at=closed_at, score=previous),
        )
    pipe.zadd(keys.METRICS_CSAT, {_csat_member(conv_id, closed_at, score, csr, reason): at})


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
    """Every figure since ``since`` (epoch seconds), without buckets or filters.

    Containment counts conversations *started* since then that never escalated;
    the other figures count events since then (:func:`metric_figures.figures`).
    """
    samples = await read_samples(redis, since, None)
    reasons = Counter(s["reason"] for s in samples.escalations)
    return {
        "since": since,
        **metric_figures.figures(samples),
        "escalations_by_reason": dict(reasons),
        "queue_length": await redis.zcard(keys.QUEUE),
    }


async def series(
    redis: Redis,
    *,
    since: float,
    until: float,
    bucket: str = "day",
    reason: Optional[str] = None,
    csr: Optional[str] = None,
    timezone: str,
) -> Dict[str, Any]:
    """The figures of ``[since, until)`` per day or week of ``timezone``, and their totals.

    Args:
        since: Epoch seconds, inclusive.
        until: Epoch seconds, exclusive.
        bucket: ``day`` or ``week`` (Monday to Sunday).
        reason: Only samples of this escalation reason (or bot flow, for follow-ups).
        csr: Only samples of this CSR.
        timezone: IANA zone the days start in (the business hours' zone).

    Returns:
        ``buckets`` (oldest first, empty ones too), ``totals`` over the whole range and
        ``choices``: the reasons and CSRs the range's samples name, for the filters.
        ``reopen_rate`` is reopens divided by cases finished (follow-ups answered plus
        tickets solved) in the same bucket; docs/handoff.md defines every figure.
    """
    samples = await read_samples(redis, since, until)
    filters = metric_figures.Filters(reason=reason, csr=csr)
    buckets = metric_figures.series(
        samples, since=since, until=until, bucket=bucket, timezone=timezone, filters=filters
    )
    return {
        "since": since,
        "until": until,
        "bucket": bucket,
        "timezone": timezone,
        "reason": reason,
        "csr": csr,
        "buckets": buckets,
        "totals": metric_figures.figures(samples, filters),
        "choices": metric_figures.choices(samples),
    }


async def read_samples(
    redis: Redis, since: Optional[float], until: Optional[float]
) -> metric_figures.Samples:
    """Every sample with a time in ``[since, until)`` (None: unbounded), with its ``at``."""
    low: Any = "-inf" if since is None else since
    high: Any = "+inf" if until is None else f"({until!r}"
    started = await redis.zrangebyscore(keys.METRICS_STARTED, low, high, withscores=True)
    ids = [conv_id for conv_id, _ in started]
    firsts = await redis.zmscore(keys.METRICS_ESCALATED, ids) if ids else []
    async with redis.pipeline(transaction=False) as pipe:
        for key in _SAMPLE_KEYS.values():
            pipe.zrangebyscore(key, low, high, withscores=True)
        rows_of_each = await pipe.execute()
    found: Dict[str, Any] = {
        kind: [{**json.loads(member), "at": at} for member, at in rows]
        for kind, rows in zip(_SAMPLE_KEYS, rows_of_each, strict=True)
    }
    found["started"] = [
        {"conv": conv_id, "at": at, "escalated": first is not None}
        for (conv_id, at), first in zip(started, firsts, strict=True)
    ]
    return metric_figures.Samples(**found)


def _sample(**fields: Any) -> str:
    # Sorted keys: the same sample always serialises to the same member.
    return json.dumps(fields, sort_keys=True)


def _csat_member(
    conv_id: str, closed_at: Optional[float], score: int, csr: Optional[str], reason: Optional[str]
) -> str:
    return _sample(conv=conv_id, closed_at=closed_at, score=score, csr=csr, reason=reason)
