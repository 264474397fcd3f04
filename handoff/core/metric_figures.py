"""The support lead's figures from metric samples: pure functions, no Redis.

:mod:`handoff.core.metrics` reads the samples; this module filters them by reason and
CSR, puts them in day or week buckets of the business time zone and computes each
figure (docs/handoff.md, "Metrics", defines them all). Tests call it with samples of
their own.

A sample is a dict with at least ``at`` (epoch seconds). Samples written before
``csr`` and ``reason`` were recorded lack them: they count when no filter is set and
match no filter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence
from zoneinfo import ZoneInfo

from handoff.core import stats

BUCKETS = ("day", "week")
Sample = Mapping[str, Any]


@dataclass(frozen=True)
class Samples:
    """Every kind of sample of one period.

    Attributes:
        started: Conversations started: ``{"conv", "at", "escalated": bool}``.
        escalations: ``{"conv", "reason", "at"}``.
        waits: Queue waits ``{"wait", "csr", "reason", "at"}``.
        first_replies: Conversations' first CSR replies ``{"seconds", "csr", "reason", "at"}``.
        csat: Ratings ``{"score", "csr", "reason", "at"}``.
        followups: Answers to "did that solve it?" ``{"solved", "csr", "reason", "at"}``.
        reopens: Finished cases that came back ``{"csr", "reason", "at"}``.
        ticket_replies: Tickets' first replies ``{"met", "csr", "reason", "at"}``.
        tickets_solved: ``{"met", "csr", "reason", "at"}``.
    """

    started: Sequence[Sample] = ()
    escalations: Sequence[Sample] = ()
    waits: Sequence[Sample] = ()
    first_replies: Sequence[Sample] = ()
    csat: Sequence[Sample] = ()
    followups: Sequence[Sample] = ()
    reopens: Sequence[Sample] = ()
    ticket_replies: Sequence[Sample] = ()
    tickets_solved: Sequence[Sample] = ()


@dataclass(frozen=True)
class Filters:
    """Which samples count: those of this escalation reason and/or this CSR (None: all)."""

    reason: Optional[str] = None
    csr: Optional[str] = None

    def any(self) -> bool:
        """Whether a filter is set."""
        return self.reason is not None or self.csr is not None

    def keep(self, samples: Iterable[Sample]) -> List[Sample]:
        """The samples that match every filter set."""
        return [s for s in samples if self._matches(s)]

    def _matches(self, sample: Sample) -> bool:
        if self.reason is not None and sample.get("reason") != self.reason:
            return False
        return self.csr is None or sample.get("csr") == self.csr


@dataclass
class _Bucket:
    start: dt.date
    samples: Dict[str, List[Sample]] = field(default_factory=dict)


def figures(samples: Samples, filters: Filters = Filters()) -> Dict[str, Any]:
    """Every figure of one period.

    Containment and conversations are None under a filter: a conversation the bot kept
    has neither an escalation reason nor a CSR. Escalations are None under a CSR filter
    (no CSR has a conversation when it escalates).
    """
    keep = filters.keep
    followups = keep(samples.followups)
    reopens = keep(samples.reopens)
    solved = keep(samples.tickets_solved)
    sla_checks = [s for s in keep(samples.ticket_replies) + solved if s.get("met") is not None]
    answered = len(followups)
    n_solved_followups = sum(1 for s in followups if s.get("solved"))
    n_met = sum(1 for s in sla_checks if s.get("met"))
    return {
        **_containment(samples.started, filters),
        "escalations": None if filters.csr is not None else len(keep(samples.escalations)),
        "queue_wait_seconds": distribution([s["wait"] for s in keep(samples.waits)]),
        "first_reply_seconds": distribution([s["seconds"] for s in keep(samples.first_replies)]),
        "csat": _csat([s["score"] for s in keep(samples.csat)]),
        "followups": {"answered": answered, "solved": n_solved_followups},
        "first_contact_resolution": ratio(n_solved_followups, answered),
        "reopens": len(reopens),
        "reopen_rate": ratio(len(reopens), answered + len(solved)),
        "sla": {"checked": len(sla_checks), "met": n_met},
        "sla_attainment": ratio(n_met, len(sla_checks)),
        "tickets_solved": len(solved),
    }


def series(
    samples: Samples,
    *,
    since: float,
    until: float,
    bucket: str,
    timezone: str,
    filters: Filters = Filters(),
) -> List[Dict[str, Any]]:
    """:func:`figures` per day or week (Monday to Sunday) of ``timezone``, oldest first.

    Every bucket from the one holding ``since`` to the one holding the last moment
    before ``until`` is listed, empty ones too (a chart needs its gaps). Samples outside
    ``[since, until)`` are expected to be left out by the caller.

    Raises:
        ValueError: ``bucket`` is not ``day`` or ``week``.
    """
    zone = ZoneInfo(timezone)
    starts = bucket_starts(since, until, bucket, zone)
    buckets = {start: _Bucket(start) for start in starts}
    for kind in Samples.__dataclass_fields__:
        for sample in getattr(samples, kind):
            found = buckets.get(bucket_start(sample["at"], bucket, zone))
            if found is not None:
                found.samples.setdefault(kind, []).append(sample)
    return [_bucket_figures(buckets[start], bucket, zone, filters) for start in starts]


def bucket_start(at: float, bucket: str, zone: dt.tzinfo) -> dt.date:
    """The local date that starts the day or week (Monday) holding ``at``."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}")
    day = dt.datetime.fromtimestamp(at, zone).date()
    return day - dt.timedelta(days=day.weekday()) if bucket == "week" else day


def bucket_starts(since: float, until: float, bucket: str, zone: dt.tzinfo) -> List[dt.date]:
    """The first local date of every bucket from ``since`` to just before ``until``."""
    step = dt.timedelta(days=7 if bucket == "week" else 1)
    current, last = bucket_start(since, bucket, zone), _last_bucket(since, until, bucket, zone)
    starts = []
    while current <= last:
        starts.append(current)
        current += step
    return starts


def count_buckets(since: float, until: float, bucket: str, timezone: str) -> int:
    """How many buckets :func:`series` would list (to refuse a huge range before reading)."""
    zone = ZoneInfo(timezone)
    first, last = bucket_start(since, bucket, zone), _last_bucket(since, until, bucket, zone)
    return (last - first).days // (7 if bucket == "week" else 1) + 1


def local_midnight(day: dt.date, zone: dt.tzinfo) -> float:
    """Epoch seconds of ``day``'s start in ``zone`` (DST days are 23 or 25 hours long)."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def choices(samples: Samples) -> Dict[str, List[str]]:
    """The reasons and CSRs the samples name: what the filters can offer."""
    reasons, csrs = set(), set()
    for kind in Samples.__dataclass_fields__:
        for sample in getattr(samples, kind):
            if sample.get("reason"):
                reasons.add(sample["reason"])
            if sample.get("csr"):
                csrs.add(sample["csr"])
    return {"reasons": sorted(reasons), "csrs": sorted(csrs)}


def backlog(
    tickets: Iterable[Mapping[str, Any]], now: float, filters: Filters = Filters()
) -> Dict[str, Any]:
    """Tickets not solved yet, and how old they are.

    Args:
        tickets: Open tickets as ``{"created_at", "priority", "reason", "assignee",
            "breached"}`` (``breached``: a first-reply or resolution target is missed now);
            the CSR filter matches the assignee.
        now: Epoch seconds the ages are measured at.
        filters: Reason and CSR filters.
    """
    kept = [t for t in tickets if _ticket_matches(t, filters)]
    by_priority: Dict[str, List[float]] = {}
    ages = []
    for ticket in kept:
        age = max(0.0, now - float(ticket.get("created_at") or now))
        ages.append(age)
        by_priority.setdefault(str(ticket.get("priority") or "normal"), []).append(age)
    return {
        "count": len(ages),
        "breached": sum(1 for t in kept if t.get("breached")),
        "age_seconds": _ages(ages),
        "by_priority": {name: _ages(values) for name, values in sorted(by_priority.items())},
    }


def distribution(values: List[float]) -> Dict[str, Any]:
    """Median, 90th percentile and count (None for no values)."""
    return {
        "median": stats.median(values),
        "p90": stats.percentile(values, 90),
        "count": len(values),
    }


def ratio(part: int, whole: int) -> Optional[float]:
    """``part / whole``, or None when there is nothing to divide."""
    return part / whole if whole else None


def _last_bucket(since: float, until: float, bucket: str, zone: dt.tzinfo) -> dt.date:
    # ``until`` is exclusive: a range ending at midnight does not reach into the next day.
    return bucket_start(max(since, until - 0.001), bucket, zone)


def _bucket_figures(
    found: _Bucket, bucket: str, zone: dt.tzinfo, filters: Filters
) -> Dict[str, Any]:
    step = dt.timedelta(days=7 if bucket == "week" else 1)
    samples = Samples(
        **{kind: found.samples.get(kind, []) for kind in Samples.__dataclass_fields__}
    )
    return {
        "start": found.start.isoformat(),
        "start_at": local_midnight(found.start, zone),
        "end_at": local_midnight(found.start + step, zone),
        **figures(samples, filters),
    }


def _containment(started: Sequence[Sample], filters: Filters) -> Dict[str, Any]:
    if filters.any():
        return {"conversations": None, "escalated_conversations": None, "containment_rate": None}
    escalated = sum(1 for s in started if s.get("escalated"))
    return {
        "conversations": len(started),
        "escalated_conversations": escalated,
        "containment_rate": ratio(len(started) - escalated, len(started)),
    }


def _csat(scores: List[float]) -> Dict[str, Any]:
    return {"average": stats.mean(scores), "count": len(scores)}


def _ages(ages: List[float]) -> Dict[str, Any]:
    return {
        "count": len(ages),
        "median": stats.median(ages),
        "oldest": max(ages) if ages else None,
    }


def _ticket_matches(ticket: Mapping[str, Any], filters: Filters) -> bool:
    if filters.reason is not None and ticket.get("reason") != filters.reason:
        return False
    return filters.csr is None or ticket.get("assignee") == filters.csr
