"""The metrics API's inputs and its series route: parse the query, call :mod:`handoff.core.metrics`.

Dates are the business's: a bare date or a time without an offset is read in
``business_hours.timezone``, the zone the days and weeks are counted in.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from typing import Any, Dict, Optional, Tuple
from zoneinfo import ZoneInfo

from sanic import Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from handoff.core import errors, metric_figures, metrics, text_rules

MAX_BUCKETS = 400
# Default ranges: the last 30 days, or the last 12 weeks, the current one included.
DEFAULT_BUCKETS = {"day": 30, "week": 12}
_REASON = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_CSR = re.compile(r"[A-Za-z0-9_.@+\-]{1,64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# 1970 to 2100: the dates a dashboard means (and far from what datetime cannot hold).
EARLIEST, LATEST = 0.0, 4102444800.0


async def series(request: Request) -> HTTPResponse:
    """Figures per day or week, filtered by reason and CSR, and the ticket backlog (admin only)."""
    if not request.ctx.identity.is_admin:
        raise errors.Forbidden("this needs the admin role")
    timezone = request.app.ctx.config.business_hours.timezone
    now = time.time()
    args = request.args
    bucket = _bucket(args.get("bucket"))
    since, until = _range(args.get("since"), args.get("until"), bucket, timezone, now)
    filters = metric_figures.Filters(
        reason=_filter(args.get("reason"), "reason", _REASON, "letters, digits and _ . : -"),
        csr=_filter(args.get("csr"), "csr", _CSR, "a username"),
    )
    found = await metrics.series(
        request.app.ctx.redis,
        since=since,
        until=until,
        bucket=bucket,
        reason=filters.reason,
        csr=filters.csr,
        timezone=timezone,
    )
    found["backlog"] = await backlog(request, filters, now)
    return json_response(found)


async def backlog(
    request: Request,
    filters: Optional[metric_figures.Filters] = None,
    now: Optional[float] = None,
) -> Dict[str, Any]:
    """The tickets not solved now, with their ages (see :func:`metric_figures.backlog`)."""
    now = time.time() if now is None else now
    tickets = [
        {
            "created_at": t.created_at,
            "priority": t.priority,
            "reason": t.reason,
            "assignee": t.assignee,
            "breached": any(t.breached(now).values()),
        }
        for t in await request.app.ctx.resources.tickets.backlog()
    ]
    return metric_figures.backlog(tickets, now, filters or metric_figures.Filters())


def _bucket(value: Optional[str]) -> str:
    if value in (None, ""):
        return "day"
    if value not in metric_figures.BUCKETS:
        raise errors.InvalidInput(f"`bucket` must be day or week, not {value[:20]!r}")
    return value


def _range(
    since: Optional[str], until: Optional[str], bucket: str, timezone: str, now: float
) -> Tuple[float, float]:
    zone = ZoneInfo(timezone)
    end = now if until in (None, "") else _moment(until, "until", zone, end_of_day=True)
    if since in (None, ""):
        step = 7 if bucket == "week" else 1
        first = metric_figures.bucket_start(end - 0.001, bucket, zone)  # `until` is exclusive
        start = metric_figures.local_midnight(
            first - dt.timedelta(days=step * (DEFAULT_BUCKETS[bucket] - 1)), zone
        )
    else:
        start = _moment(since, "since", zone, end_of_day=False)
    if start >= end:
        raise errors.InvalidInput("`since` must be before `until`")
    if metric_figures.count_buckets(start, end, bucket, timezone) > MAX_BUCKETS:
        raise errors.InvalidInput(f"the range spans more than {MAX_BUCKETS} {bucket}s")
    return start, end


def _moment(value: str, field: str, zone: dt.tzinfo, *, end_of_day: bool) -> float:
    """Epoch seconds, an ISO 8601 time (no offset: the business zone) or a date.

    A date alone is a whole day: ``since`` starts at its midnight, ``until`` ends at
    the next one.
    """
    hint = f"`{field}` must be epoch seconds, an ISO 8601 time or a date (YYYY-MM-DD)"
    try:
        moment = _parse_moment(value, zone, end_of_day)
    except (ValueError, OverflowError) as exc:
        raise errors.InvalidInput(hint) from exc
    if not math.isfinite(moment):
        raise errors.InvalidInput(hint)
    if not EARLIEST <= moment <= LATEST:
        raise errors.InvalidInput(f"`{field}` must be between 1970 and 2100")
    return moment


def _parse_moment(value: str, zone: dt.tzinfo, end_of_day: bool) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    if _DATE.fullmatch(value):
        day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end_of_day else 0)
        return metric_figures.local_midnight(day, zone)
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).timestamp()


def _filter(value: Optional[str], field: str, pattern: re.Pattern, hint: str) -> Optional[str]:
    if value in (None, ""):
        return None
    try:
        return text_rules.check_name(value, field, pattern, max_chars=64, hint=hint)
    except errors.InvalidInput as exc:
        # A malformed filter is a bad query like any other: one code for the API's clients.
        raise errors.InvalidInput(exc.message) from None
