"""The inbound email webhook: customers' replies to ticket mails, posted by the mail provider.

``POST /api/inbound/email?key=<email.inbound_secret>`` takes the form SendGrid Inbound
Parse or Mailgun Routes post for every received mail (multipart/form-data or
application/x-www-form-urlencoded; fields in :mod:`handoff.core.inbound_mail`). It needs
no CSR token: the provider proves itself with the key, compared in constant time. Off
(404 ``inbound_not_configured``) while no inbound secret is set; a wrong key is 401.

The answer is 200 ``{"ticket_id": ...}`` when the reply was added to its ticket, and 200
``{"ignored": reason}`` for mail that matches no ticket: providers retry anything that is
not a 2xx, and such mail would never be taken.
"""

from __future__ import annotations

import hmac
from typing import Any, Dict
from urllib.parse import parse_qs

from sanic import Request, Sanic
from sanic.headers import parse_content_header
from sanic.request import parse_multipart_form
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from handoff.core import errors
from handoff.core.inbound_mail import parse_form, route_reply
from handoff.core.tickets import CUSTOMER_TEXT_CHARS

PATH = "/api/inbound/email"
# Providers post the whole mail, attachments included (SendGrid up to 30 MB).
MAX_BODY_BYTES = 32 * 1024 * 1024


def register(app: Sanic) -> None:
    """Add the inbound email webhook to ``app`` (public: see ``routes.PUBLIC_PATHS``)."""
    app.add_route(inbound_email, PATH, methods=["POST"], stream=True)


def _check_key(request: Request) -> None:
    settings = request.app.ctx.config.email
    if not settings.inbound_enabled:
        raise errors.NotFound(
            "the inbound email webhook is off: set email.inbound_secret",
            code="inbound_not_configured",
        )
    given = request.args.get("key") or ""
    if not hmac.compare_digest(given.encode(), settings.inbound_secret.encode()):
        raise errors.AuthError("wrong or missing `key`", code="invalid_inbound_key")


async def _read_form(request: Request) -> Dict[str, Any]:
    """The posted fields, from multipart/form-data or a url-encoded body."""
    kind, options = parse_content_header(request.headers.get("content-type", ""))
    # Larger than the API's max_request_bytes on purpose, and only once the key is right.
    request.stream.request_max_size = MAX_BODY_BYTES
    body = bytearray()
    while (chunk := await request.stream.read()) is not None:
        body += chunk
    try:
        if kind == "multipart/form-data" and options.get("boundary"):
            fields, _files = parse_multipart_form(bytes(body), str(options["boundary"]).encode())
            return dict(fields)
        if kind == "application/x-www-form-urlencoded":
            return parse_qs(bytes(body).decode("utf-8", "replace"), keep_blank_values=True)
    except Exception as exc:  # noqa: BLE001 - whatever the parser trips on is a bad body
        raise errors.InvalidInput("the form body is malformed", code="invalid_form") from exc
    raise errors.UnsupportedMediaType(
        "post the mail as multipart/form-data or application/x-www-form-urlencoded"
    )


async def inbound_email(request: Request) -> HTTPResponse:
    """A received mail: added to its ticket, or ignored with a reason (both 200)."""
    _check_key(request)
    mail = parse_form(await _read_form(request))
    config = request.app.ctx.config
    result = await route_reply(
        mail,
        tickets=request.app.ctx.resources.tickets,
        settings=config.email,
        secret=config.secret,
        max_chars=CUSTOMER_TEXT_CHARS,
    )
    return json_response(result)
