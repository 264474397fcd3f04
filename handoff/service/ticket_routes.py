"""The ticket inbox over HTTP: list, open, read, change, note and answer tickets.

Thin like :mod:`handoff.service.routes`: parse the request, call
:class:`~handoff.core.tickets.TicketDesk` (``app.ctx.resources.tickets``) and shape the
JSON; the desk decides. Every route needs a CSR token. A CSR sees and changes the
tickets that are theirs or nobody's; an admin every ticket.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional

from sanic import Request, Sanic
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from handoff.core import errors
from handoff.core.tickets import Ticket, TicketDesk, check_access, visible_to
from handoff.service.requests import json_body

MAX_LIMIT = 500
_PATCH_FIELDS = ("status", "assignee", "priority")


def register(app: Sanic) -> None:
    """Add the ticket routes to ``app``."""
    app.add_route(list_tickets, "/api/tickets", methods=["GET"])
    app.add_route(open_ticket, "/api/tickets", methods=["POST"])
    app.add_route(ticket_details, "/api/tickets/<ticket_id:str>", methods=["GET"])
    app.add_route(update_ticket, "/api/tickets/<ticket_id:str>", methods=["PATCH"])
    app.add_route(add_ticket_note, "/api/tickets/<ticket_id:str>/notes", methods=["POST"])
    app.add_route(reply_to_ticket, "/api/tickets/<ticket_id:str>/replies", methods=["POST"])


def _desk(request: Request) -> TicketDesk:
    return request.app.ctx.resources.tickets


async def list_tickets(request: Request) -> HTTPResponse:
    """The inbox: ``?status=``, ``?assignee=`` (``none``: unassigned), ``?breached=true|false``."""
    who = request.ctx.identity
    assignee = request.args.get("assignee")
    if assignee == "none":
        assignee = ""
    desk = _desk(request)
    limit = _limit(request.args.get("limit"))
    found = await desk.list(
        status=request.args.get("status") or None,
        assignee=assignee,
        breached=_flag(request.args.get("breached"), "breached"),
        limit=None,
    )
    shown = [t for t in found if visible_to(t, who.username, who.is_admin)][:limit]
    now = time.time()
    config = request.app.ctx.config
    return json_response(
        {
            "tickets": [t.to_dict(now) for t in shown],
            "now": now,
            "sla": desk.sla.to_dict(),
            "business_hours": config.business_hours.to_dict(),
            "email_enabled": config.email.enabled,
        }
    )


async def open_ticket(request: Request) -> HTTPResponse:
    """A CSR opens a ticket (``subject``; optional ``priority``, ``conversation_id``,
    ``email``, ``note``); it is theirs."""
    body = json_body(request)
    for name in ("conversation_id", "email"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise errors.InvalidInput(f"`{name}` must be a string")
    ticket = await _desk(request).open_by_csr(
        request.ctx.identity.username,
        subject=body.get("subject"),
        priority=body.get("priority", "normal"),
        conversation_id=body.get("conversation_id"),
        email=body.get("email"),
        note=body.get("note"),
    )
    return json_response(ticket.to_dict(), status=201)


async def ticket_details(request: Request, ticket_id: str) -> HTTPResponse:
    """One ticket with its public thread, its internal notes and the chat it came from."""
    desk = _desk(request)
    ticket = await _visible(request, ticket_id)
    details: Dict[str, Any] = {
        **ticket.to_dict(),
        "thread": await desk.thread(ticket_id),
        "notes": await desk.notes(ticket_id),
        "transcript": [],
    }
    if ticket.conversation_id:
        details["transcript"] = await request.app.ctx.store.transcript(ticket.conversation_id)
    return json_response(details)


async def update_ticket(request: Request, ticket_id: str) -> HTTPResponse:
    """Change ``status``, ``assignee`` (null or "" unassigns) or ``priority``."""
    body = json_body(request)
    unknown = sorted(set(body) - set(_PATCH_FIELDS))
    if unknown:
        raise errors.InvalidInput(f"unknown fields: {', '.join(unknown)}")
    if not body:
        raise errors.InvalidInput(f"send at least one of {', '.join(_PATCH_FIELDS)}")
    assignee = body.get("assignee")
    if "assignee" in body and assignee is None:
        assignee = ""
    for name in _PATCH_FIELDS:
        value = assignee if name == "assignee" else body.get(name)
        if value is not None and not isinstance(value, str):
            raise errors.InvalidInput(f"`{name}` must be a string")
    who = request.ctx.identity
    ticket = await _desk(request).update(
        ticket_id,
        who.username,
        status=body.get("status"),
        assignee=assignee,
        priority=body.get("priority"),
        admin=who.is_admin,
    )
    return json_response(ticket.to_dict())


async def add_ticket_note(request: Request, ticket_id: str) -> HTTPResponse:
    """Attach an internal note (never shown to the customer)."""
    body = json_body(request)
    who = request.ctx.identity
    note = await _desk(request).add_note(
        ticket_id, who.username, body.get("text"), admin=who.is_admin
    )
    return json_response(note, status=201)


async def reply_to_ticket(request: Request, ticket_id: str) -> HTTPResponse:
    """Answer the customer by email and/or in the chat; the ticket waits on the customer."""
    body = json_body(request)
    who = request.ctx.identity
    result = await _desk(request).reply(
        ticket_id, who.username, body.get("text"), admin=who.is_admin
    )
    return json_response(result, status=201)


async def _visible(request: Request, ticket_id: str) -> Ticket:
    who = request.ctx.identity
    ticket = await _desk(request).get(ticket_id)
    check_access(ticket, who.username, who.is_admin)
    return ticket


def _flag(value: Optional[str], name: str) -> Optional[bool]:
    if value in (None, ""):
        return None
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise errors.InvalidInput(f"`{name}` must be true or false")


def _limit(value: Optional[str]) -> int:
    if value in (None, ""):
        return MAX_LIMIT
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise errors.InvalidInput(f"`limit` must be a whole number from 1 to {MAX_LIMIT}")
    return int(value)
