"""Conversations and tickets as CSV rows or JSON objects, read from Redis a page at a time.

The admin export (``GET /api/admin/export/...``, :mod:`handoff.service.export_routes`)
streams what these generators yield, so a store with a million conversations is never
held in memory at once: conversations are found with SCAN, tickets page through their
index by opening time.

CSV is for spreadsheets: times are ISO 8601 in UTC, and a cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so that no
spreadsheet runs a customer's text as a formula (CSV injection). JSON keeps the API's
epoch seconds and adds the transcript (conversations) or the thread (tickets).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any, AsyncIterator, Dict, Iterable, List, Optional, Sequence

from redis.asyncio import Redis

from handoff.core import keys
from handoff.core.conversation import Conversation
from handoff.core.tickets import Ticket

PAGE = 200
FORMATS = ("csv", "json")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CONVERSATION_COLUMNS = (
    "id",
    "state",
    "reason",
    "priority",
    "created_at",
    "closed_at",
    "assigned_to",
    "resolution",
    "csat",
    "escalations",
    "first_reply_seconds",
    "updated_at",
)
TICKET_COLUMNS = (
    "id",
    "status",
    "priority",
    "reason",
    "source",
    "subject",
    "conversation_id",
    "assignee",
    "email",
    "created_at",
    "updated_at",
    "first_reply_due",
    "resolution_due",
    "first_replied_at",
    "solved_at",
    "reopen_count",
    "first_reply_breached",
    "resolution_breached",
)
_TIMES = {
    "created_at",
    "closed_at",
    "updated_at",
    "first_reply_due",
    "resolution_due",
    "first_replied_at",
    "solved_at",
}


def conversation_row(conv: Conversation) -> Dict[str, Any]:
    """The export columns of one conversation (epoch seconds; ``None`` when unknown)."""
    first_reply = None
    if conv.first_csr_reply_at is not None and conv.waiting_since is not None:
        first_reply = round(max(0.0, conv.first_csr_reply_at - conv.waiting_since), 3)
    return {
        "id": conv.id,
        "state": conv.state.value,
        "reason": conv.reason,
        "priority": conv.priority,
        "created_at": conv.created_at,
        "closed_at": conv.closed_at,
        "assigned_to": conv.assigned_to,
        "resolution": conv.resolution,
        "csat": conv.csat,
        "escalations": conv.escalations,
        "first_reply_seconds": first_reply,
        "updated_at": conv.updated_at,
    }


def ticket_row(ticket: Ticket, now: float) -> Dict[str, Any]:
    """The export columns of one ticket, with its SLA breaches at ``now``."""
    data = ticket.to_dict(now)
    breached = data.pop("breached")
    row = {name: data.get(name) for name in TICKET_COLUMNS if name in data}
    row["first_reply_breached"] = breached["first_reply"]
    row["resolution_breached"] = breached["resolution"]
    return row


async def conversations(
    redis: Redis, *, since: Optional[float] = None, until: Optional[float] = None
) -> AsyncIterator[List[Dict[str, Any]]]:
    """Pages of ``(row, transcript)`` dicts: conversations created in ``[since, until)``.

    Yields:
        Lists of ``{"row": …, "transcript": […]}``, in no particular order (SCAN).
    """
    batch: List[str] = []
    async for key in redis.scan_iter(match=keys.conversation("*"), count=PAGE):
        batch.append(key)
        if len(batch) >= PAGE:
            page = await _conversation_page(redis, batch, since, until)
            batch = []
            if page:
                yield page
    if batch:
        page = await _conversation_page(redis, batch, since, until)
        if page:
            yield page


async def tickets(
    redis: Redis,
    *,
    now: float,
    since: Optional[float] = None,
    until: Optional[float] = None,
) -> AsyncIterator[List[Dict[str, Any]]]:
    """Pages of ``{"row", "ticket", "thread"}``: tickets opened in ``[since, until)``, oldest first.

    ``row`` has the CSV columns, ``ticket`` the API's view of the ticket (``Ticket.to_dict``).

    Reads the ticket index (``handoff:tickets``, scored by opening time) a page at a time.
    """
    low: Any = "-inf" if since is None else since
    high: Any = "+inf" if until is None else f"({until}"
    offset = 0
    while True:
        ids = await redis.zrangebyscore(keys.TICKETS, low, high, start=offset, num=PAGE)
        if not ids:
            return
        offset += len(ids)
        async with redis.pipeline(transaction=False) as pipe:
            for ticket_id in ids:
                pipe.hgetall(keys.ticket(ticket_id))
                pipe.lrange(keys.ticket_thread(ticket_id), 0, -1)
            replies = await pipe.execute()
        page = []
        for raw, thread in zip(replies[::2], replies[1::2], strict=True):
            if raw:
                ticket = Ticket.from_hash(raw)
                page.append(
                    {
                        "row": ticket_row(ticket, now),
                        "ticket": ticket.to_dict(now),
                        "thread": [json.loads(m) for m in thread],
                    }
                )
        if page:
            yield page


async def _conversation_page(
    redis: Redis, batch: Sequence[str], since: Optional[float], until: Optional[float]
) -> List[Dict[str, Any]]:
    async with redis.pipeline(transaction=False) as pipe:
        for key in batch:
            pipe.hgetall(key)
        records = await pipe.execute()
    found = []
    for raw in records:
        if not raw:
            continue  # expired between SCAN and now
        conv = Conversation.from_hash(raw)
        created = conv.created_at or 0.0
        if (since is not None and created < since) or (until is not None and created >= until):
            continue
        found.append(conv)
    async with redis.pipeline(transaction=False) as pipe:
        for conv in found:
            pipe.lrange(keys.transcript(conv.id), 0, -1)
        transcripts = await pipe.execute() if found else []
    return [
        {"row": conversation_row(conv), "transcript": [json.loads(m) for m in lines]}
        for conv, lines in zip(found, transcripts, strict=True)
    ]


# ---- CSV ------------------------------------------------------------------------------------


def csv_header(columns: Sequence[str]) -> str:
    """The first line of a CSV export."""
    return _csv_line(columns)


def csv_rows(rows: Iterable[Dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV lines for ``rows``: ISO times, empty cells for None, formulas defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(name, row.get(name)) for name in columns])
    return out.getvalue()


def safe_cell(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _csv_line(values: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in _TIMES and isinstance(value, (int, float)):
        return iso(value)
    if isinstance(value, (int, float)):
        return str(value)
    return safe_cell(str(value))


def iso(epoch: float) -> str:
    """Epoch seconds as ISO 8601 UTC (``2024-05-24T09:15:00Z``)."""
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
