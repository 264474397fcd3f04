"""Team away mode over HTTP: any CSR reads it (the console's banner), an admin sets and clears it.

``GET /api/availability`` answers ``{"away": null}`` or ``{"away": {by, message, since}}``;
``PUT`` with ``{"message": "..."}`` puts the team away (the bot then offers tickets instead
of the queue), ``DELETE`` brings it back. See :mod:`handoff.core.availability`.
"""

from __future__ import annotations

from sanic import Request, Sanic
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from handoff.service.admin_routes import admin_only
from handoff.service.requests import json_body

PATH = "/api/availability"


def register(app: Sanic) -> None:
    """Add the availability routes to ``app``."""
    app.add_route(get_availability, PATH, methods=["GET"])
    app.add_route(set_away, PATH, methods=["PUT"])
    app.add_route(clear_away, PATH, methods=["DELETE"])


async def get_availability(request: Request) -> HTTPResponse:
    """Whether the team is away (any logged-in CSR or admin)."""
    return json_response({"away": await request.app.ctx.resources.availability.away()})


@admin_only
async def set_away(request: Request) -> HTTPResponse:
    """Put the team away, or change the message customers see while away."""
    body = json_body(request)
    away = await request.app.ctx.resources.availability.set_away(
        request.ctx.identity.username, body.get("message")
    )
    return json_response({"away": away})


@admin_only
async def clear_away(request: Request) -> HTTPResponse:
    """The team is back: the bot queues conversations for CSRs again."""
    await request.app.ctx.resources.availability.clear(request.ctx.identity.username)
    return json_response({"away": None})
