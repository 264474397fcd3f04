"""The admin export: every conversation or ticket as a CSV or JSON download (admin role only).

``GET /api/admin/export/conversations`` and ``GET /api/admin/export/tickets`` take
``format`` (``csv``, the default, or ``json``) and optional ``since``/``until`` (epoch
seconds or ISO 8601; by creation time, ``until`` exclusive). The answer is streamed a page
at a time as Redis is read (:mod:`handoff.core.exports`), with a ``Content-Disposition``
that makes browsers save it. A CSR gets 403.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any, AsyncIterator, Callable, Dict, List, Sequence

from sanic import Request, Sanic

from handoff.core import errors, exports
from handoff.service.admin_routes import admin_only
from handoff.service.requests import query_time

logger = logging.getLogger(__name__)

PREFIX = "/api/admin/export"
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def register(app: Sanic) -> None:
    """Add the export routes to ``app``."""
    app.add_route(export_conversations, f"{PREFIX}/conversations", methods=["GET"])
    app.add_route(export_tickets, f"{PREFIX}/tickets", methods=["GET"])


@admin_only
async def export_conversations(request: Request) -> None:
    """Escalated conversations (the handoff records); JSON adds each transcript."""
    fmt, since, until = _params(request)
    pages = exports.conversations(request.app.ctx.redis, since=since, until=until)
    await _stream(
        request,
        "conversations",
        fmt,
        pages,
        exports.CONVERSATION_COLUMNS,
        lambda item: {**item["row"], "transcript": item["transcript"]},
    )


@admin_only
async def export_tickets(request: Request) -> None:
    """Tickets, oldest first, with their SLA breaches; JSON adds each public thread."""
    fmt, since, until = _params(request)
    pages = exports.tickets(request.app.ctx.redis, now=time.time(), since=since, until=until)
    await _stream(
        request,
        "tickets",
        fmt,
        pages,
        exports.TICKET_COLUMNS,
        lambda item: {**item["ticket"], "thread": item["thread"]},
    )


async def _stream(
    request: Request,
    name: str,
    fmt: str,
    pages: AsyncIterator[List[Dict[str, Any]]],
    columns: Sequence[str],
    as_json: Callable[[Dict[str, Any]], Dict[str, Any]],
) -> None:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    response = await request.respond(
        content_type=CONTENT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.{fmt}"'},
    )
    if fmt == "csv":
        await response.send(exports.csv_header(columns))
        async for page in pages:
            await response.send(exports.csv_rows((item["row"] for item in page), columns))
    else:
        await response.send(f'{{"{name}": [')
        first = True
        async for page in pages:
            chunk = ",".join(json.dumps(as_json(item)) for item in page)
            await response.send(("" if first else ",") + chunk)
            first = False
        await response.send("]}")
    await response.eof()


def _params(request: Request):
    fmt = request.args.get("format") or "csv"
    if fmt not in exports.FORMATS:
        raise errors.InvalidInput("`format` must be csv or json")
    since = query_time(request.args.get("since"), "since")
    until = query_time(request.args.get("until"), "until")
    if since is not None and until is not None and until <= since:
        raise errors.InvalidInput("`until` must be after `since`")
    return fmt, since, until
