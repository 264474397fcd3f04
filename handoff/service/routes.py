"""The HTTP and WebSocket edge: translate requests into domain calls and errors into status codes.

Nothing here decides anything about conversations; handlers parse input, call
:class:`~handoff.core.csr_desk.HandoffService` (or the store/auth directly for reads)
and shape the JSON. Every error body is ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from redis.exceptions import RedisError
from sanic import Request, Sanic
from sanic.exceptions import NotFound, SanicException
from sanic.response import HTTPResponse, raw
from sanic.response import json as json_response
from websockets.exceptions import ConnectionClosed

from handoff.core import errors, process_metrics
from handoff.core.attachments import download_headers
from handoff.core.canned import load_canned_responses
from handoff.core.http_errors import (
    REDIS_DOWN,
    HttpError,
    check_websocket_handshake,
    http_error,
)
from handoff.core.presence import takes_chats
from handoff.service import metric_routes
from handoff.service.requests import bearer_token, json_body, query_time

# The inbound email webhook proves itself with its own `key` (handoff/service/inbound_routes.py).
PUBLIC_PATHS = {"/health", "/openapi.yaml", "/api/login", "/api/inbound/email"}
EVENTS_PATH = "/api/events"
# How often an open console socket checks that its token is still valid (logged out,
# password changed, expired, account deleted: the socket is closed with code 4401), and
# marks its CSR as online (handoff.core.presence; tickets.presence_seconds must be longer).
TOKEN_RECHECK_SECONDS = 5.0


def register(app: Sanic) -> None:
    """Add the middleware, error handlers and every route to ``app``."""
    app.register_middleware(authenticate, "request")
    app.register_middleware(api_headers, "response")
    app.error_handler.add(SanicException, on_sanic_error)
    app.error_handler.add(Exception, on_error)

    app.add_route(health, "/health", methods=["GET"])
    app.add_route(openapi, "/openapi.yaml", methods=["GET"])
    app.add_route(login, "/api/login", methods=["POST"])
    app.add_route(logout, "/api/logout", methods=["POST"])
    app.add_route(me, "/api/me", methods=["GET"])
    app.add_route(change_password, "/api/me/password", methods=["POST"])
    app.add_route(queue, "/api/queue", methods=["GET"])
    app.add_route(conversation, "/api/conversations/<conv_id:str>", methods=["GET"])
    app.add_route(claim, "/api/conversations/<conv_id:str>/claim", methods=["POST"])
    app.add_route(send_message, "/api/conversations/<conv_id:str>/messages", methods=["POST"])
    app.add_route(typing, "/api/conversations/<conv_id:str>/typing", methods=["POST"])
    app.add_route(add_note, "/api/conversations/<conv_id:str>/notes", methods=["POST"])
    app.add_route(transfer, "/api/conversations/<conv_id:str>/transfer", methods=["POST"])
    app.add_route(release, "/api/conversations/<conv_id:str>/release", methods=["POST"])
    app.add_route(close, "/api/conversations/<conv_id:str>/close", methods=["POST"])
    app.add_route(
        attachment,
        "/api/conversations/<conv_id:str>/attachments/<attachment_id:str>",
        methods=["GET"],
    )
    app.add_route(metrics, "/api/metrics", methods=["GET"])
    app.add_route(metric_routes.series, "/api/metrics/series", methods=["GET"])
    app.add_route(canned_responses, "/api/canned-responses", methods=["GET"])
    app.add_websocket_route(events, EVENTS_PATH)


# ---- authentication -------------------------------------------------------------------------


async def authenticate(request: Request) -> None:
    """Request middleware: every ``/api`` path except login needs a valid token.

    Runs before the WebSocket handshake too, so an unauthenticated console gets
    a plain 401 instead of an open socket, and a page from an origin that is not in
    ``allowed_origins`` a 403.
    """
    if request.path in PUBLIC_PATHS or not request.path.startswith("/api/"):
        return
    if request.path == EVENTS_PATH and not request.app.ctx.config.origin_allowed(
        request.headers.get("origin")
    ):
        raise errors.Forbidden(
            "pages from this origin may not open the console's socket (allowed_origins)",
            code="origin_not_allowed",
        )
    token = bearer_token(request)
    if token is None and request.path == EVENTS_PATH:
        # Browsers cannot set headers on a WebSocket, hence the query parameter.
        token = request.args.get("token")
    if not token:
        raise errors.AuthError("log in first: send `Authorization: Bearer <token>`")
    request.ctx.identity = await request.app.ctx.auth.verify(token)
    request.ctx.token = token
    if request.path == EVENTS_PATH:
        # Logged in but no WebSocket (a plain GET): 426, not the 500 of Sanic's failed handshake.
        check_websocket_handshake(request.headers)


async def api_headers(request: Request, response: HTTPResponse) -> None:
    """Response middleware: nothing is content-sniffed, no JSON answer is cached.

    API answers carry tokens, transcripts and customers' details: no browser or proxy
    may keep them. The pages set their own headers (:mod:`handoff.service.pages`).
    """
    if response is None:
        return
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    content_type = response.content_type or response.headers.get("content-type") or ""
    if request.path.startswith("/api/") or content_type.startswith("application/json"):
        response.headers.setdefault("Cache-Control", "no-store")


def _require_admin(request: Request) -> None:
    if not request.ctx.identity.is_admin:
        raise errors.Forbidden("this needs the admin role")


# ---- handlers -------------------------------------------------------------------------------


async def health(request: Request) -> HTTPResponse:
    """Liveness plus a Redis ping (503 when Redis is down)."""
    try:
        await request.app.ctx.redis.ping()
    except (*REDIS_DOWN, OSError):
        return json_response({"status": "degraded", "redis": "down"}, status=503)
    return json_response({"status": "ok", "redis": "ok"})


async def openapi(request: Request) -> HTTPResponse:
    """The OpenAPI document of this API."""
    path = request.app.ctx.config.openapi_file
    try:
        body = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise NotFound(f"OpenAPI document missing: {exc}") from exc
    return raw(body, content_type="application/yaml")


async def login(request: Request) -> HTTPResponse:
    """Exchange username and password for a token."""
    body = json_body(request)
    token = await request.app.ctx.auth.authenticate(
        body.get("username"), body.get("password"), _client_address(request)
    )
    return await _token_answer(request, token)


async def logout(request: Request) -> HTTPResponse:
    """Log the token of this request out: it is refused from now on (the console's Log out)."""
    await request.app.ctx.auth.revoke(request.ctx.token)
    return json_response({"ok": True})


async def me(request: Request) -> HTTPResponse:
    """Who the token belongs to."""
    return json_response({"user": request.ctx.identity.to_dict()})


async def change_password(request: Request) -> HTTPResponse:
    """The caller changes their own password; every older token, this one too, is revoked.

    Answers like a login, with a fresh token, so the console stays logged in.
    """
    body = json_body(request)
    token = await request.app.ctx.auth.change_password(
        request.ctx.identity.username,
        body.get("current_password"),
        body.get("new_password"),
        _client_address(request),
    )
    return await _token_answer(request, token)


async def _token_answer(request: Request, token: str) -> HTTPResponse:
    identity = await request.app.ctx.auth.verify(token)
    return json_response(
        {
            "token": token,
            "token_type": "Bearer",
            "expires_in": request.app.ctx.config.token_ttl_seconds,
            "user": identity.to_dict(),
        }
    )


def _client_address(request: Request) -> str:
    # Behind a proxy Sanic reads it from the configured forwarding header (REAL_IP_HEADER).
    return request.remote_addr or request.ip or "unknown"


async def queue(request: Request) -> HTTPResponse:
    """Waiting conversations in the order CSRs should take them."""
    config = request.app.ctx.config
    now = dt.datetime.now(dt.timezone.utc)
    waiting = []
    for position, conv in enumerate(await request.app.ctx.store.queue(), start=1):
        item = conv.to_dict()
        item["position"] = position
        item["waited_seconds"] = max(0.0, now.timestamp() - (conv.waiting_since or now.timestamp()))
        waiting.append(item)
    hours = config.business_hours
    return json_response(
        {
            "conversations": waiting,
            "sla_seconds": config.sla_seconds,
            "business_hours": {**hours.to_dict(), "open_now": hours.is_open(now)},
        }
    )


async def conversation(request: Request, conv_id: str) -> HTTPResponse:
    """One conversation with transcript, context, notes and the customer's files."""
    details = await request.app.ctx.service.details(conv_id)
    files = await request.app.ctx.attachments.in_conversation(conv_id)
    return json_response({**details, "attachments": [f.to_dict() for f in files]})


async def claim(request: Request, conv_id: str) -> HTTPResponse:
    """Claim a queued conversation (409 if someone was faster)."""
    conv = await request.app.ctx.service.claim(conv_id, request.ctx.identity)
    return json_response(conv.to_dict())


async def send_message(request: Request, conv_id: str) -> HTTPResponse:
    """Send a CSR message to the customer."""
    body = json_body(request)
    sent = await request.app.ctx.service.send_message(
        conv_id, request.ctx.identity, body.get("text"), body.get("buttons")
    )
    return json_response(sent, status=201)


async def typing(request: Request, conv_id: str) -> HTTPResponse:
    """Show the customer a typing indicator."""
    await request.app.ctx.service.typing(conv_id, request.ctx.identity)
    return json_response({"ok": True})


async def add_note(request: Request, conv_id: str) -> HTTPResponse:
    """Attach an internal note."""
    body = json_body(request)
    note = await request.app.ctx.service.add_note(conv_id, request.ctx.identity, body.get("text"))
    return json_response(note, status=201)


async def transfer(request: Request, conv_id: str) -> HTTPResponse:
    """Hand the conversation to another CSR (``{"to": username}``)."""
    body = json_body(request)
    conv = await request.app.ctx.service.transfer(conv_id, request.ctx.identity, body.get("to"))
    return json_response(conv.to_dict())


async def release(request: Request, conv_id: str) -> HTTPResponse:
    """Hand the conversation back to the bot."""
    result = await request.app.ctx.service.release(conv_id, request.ctx.identity)
    return json_response(
        {"conversation": result["conversation"].to_dict(), "bot_greeted": result["bot_greeted"]}
    )


async def close(request: Request, conv_id: str) -> HTTPResponse:
    """Close the conversation with a resolution tag and ask the customer for a rating."""
    body = json_body(request)
    conv = await request.app.ctx.service.close(
        conv_id, request.ctx.identity, body.get("resolution")
    )
    return json_response(conv.to_dict())


async def attachment(request: Request, conv_id: str, attachment_id: str) -> HTTPResponse:
    """A file the customer sent, to save (never rendered: see ``download_headers``)."""
    found, data = await request.app.ctx.attachments.get(conv_id, attachment_id)
    return raw(data, content_type=found.type, headers=download_headers(found))


async def metrics(request: Request) -> HTTPResponse:
    """Containment, waits, CSAT, FCR, reopens, SLA attainment and ticket backlog (admin only)."""
    _require_admin(request)
    found = await request.app.ctx.store.metrics(query_time(request.args.get("since"), "since"))
    return json_response({**found, "backlog": await metric_routes.backlog(request)})


async def canned_responses(request: Request) -> HTTPResponse:
    """The bot's response templates and FAQ answers, for quick replies."""
    entries = await asyncio.to_thread(load_canned_responses, request.app.ctx.config.project_dir)
    return json_response({"responses": entries})


async def events(request: Request, ws: Any) -> None:
    """Stream live console events until the client goes away; the CSR is online meanwhile."""
    await _mark_present(request, request.ctx.identity)
    async with request.app.ctx.store.live_events() as feed:
        await ws.send(json.dumps({"type": "hello", "user": request.ctx.identity.to_dict()}))
        tasks = {
            asyncio.ensure_future(_forward(feed, ws)),
            asyncio.ensure_future(_answer_pings(ws)),
            asyncio.ensure_future(_watch_token(request, ws)),
        }
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _forward(feed: Any, ws: Any) -> None:
    async for event in feed:
        await ws.send(json.dumps(event))


async def _watch_token(request: Request, ws: Any) -> None:
    """Return (ending the socket) once the token that opened it stops being valid."""
    while True:
        await asyncio.sleep(TOKEN_RECHECK_SECONDS)
        try:
            identity = await request.app.ctx.auth.verify(request.ctx.token)
        except errors.AuthError as exc:
            try:
                await ws.send(json.dumps({"type": "error", **http_error(exc).body}))
                await ws.close(4401, "log in again")
            except ConnectionClosed:
                pass
            return
        except (*REDIS_DOWN, OSError):
            continue  # Redis is briefly away: keep the socket, check again later
        await _mark_present(request, identity)


async def _mark_present(request: Request, identity: Any) -> None:
    """An open console of an account that takes chats: its CSR is online (best effort)."""
    if not takes_chats(identity.role):
        return
    try:
        await request.app.ctx.resources.presence.seen(identity.username)
    except (RedisError, OSError):
        pass  # Redis is briefly away: the next recheck marks it again


async def _answer_pings(ws: Any) -> None:
    # Also notices the client leaving, which ends the whole handler.
    try:
        while True:
            message = await ws.recv()
            if message is None:
                continue
            if _is_ping(message):
                await ws.send(json.dumps({"type": "pong"}))
    except ConnectionClosed:
        return


def _is_ping(message: Any) -> bool:
    try:
        return json.loads(message).get("type") == "ping"
    except (ValueError, AttributeError):
        return False


# ---- errors ---------------------------------------------------------------------------------


def on_sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
    """Unknown route, wrong method, body too large, … in the API's error shape."""
    status = getattr(exc, "status_code", 500) or 500
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    code = codes.get(status, "http_error")
    return error_response(HttpError(status, code, str(exc) or code))


def on_error(request: Request, exc: Exception) -> HTTPResponse:
    """Everything else, through the product's one error mapping."""
    process_metrics.count_redis_error("handoff", exc)
    return error_response(http_error(exc, f"{request.method} {request.path}"))


def error_response(err: HttpError) -> HTTPResponse:
    """An error as this API answers it."""
    return json_response(err.body, status=err.status, headers=err.headers)
