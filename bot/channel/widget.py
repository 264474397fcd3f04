"""The website widget's Rasa input channel: HTTP + WebSocket, delivered through the outbox.

Declared in ``credentials.yml`` as ``bot.channel.widget.WidgetInput:``; Rasa
serves it under ``/webhooks/widget/`` (API in ``docs/widget-api.md``).

Every message for the customer (bot replies, CSR messages, notices) goes into the
conversation's outbox (:mod:`handoff.core.outbox`, a Redis Stream) and is delivered
from there: in the HTTP response of the message that caused it, to
``GET messages?after=`` after a reload, and live over the WebSocket. Nothing is
kept in process memory, so whichever Rasa instance holds the socket delivers. The
sockets of one process share its delivery hub (:mod:`handoff.core.delivery_hub`):
two Redis connections for any number of idle sockets.

The conversation id always comes from the customer's signed token
(:mod:`handoff.core.customer_tokens`), never from the request. While a CSR has the
conversation (``queued``/``assigned``) messages still go to Rasa, which logs
them with their intent on the paused tracker, and into the handoff transcript
so the console sees them live. In a conversation that became a ticket (a customer
back through the mail's link) they go to Rasa too, and into the ticket's thread.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import json
import logging
import os
import re
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Text, Tuple

import redis.asyncio as aioredis
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import WebsocketClosed
from sanic.headers import parse_content_header
from sanic.request import Request, parse_multipart_form
from sanic.response import HTTPResponse
from websockets.exceptions import ConnectionClosed

from bot.channel import operations
from handoff.core import errors, followup, keys, log_format, log_redaction, process_metrics
from handoff.core.attachments import Attachments, describe_size, download_headers
from handoff.core.csr_desk import csat_request
from handoff.core.customer_tokens import (
    DEFAULT_TTL_SECONDS,
    CustomerTokenError,
    CustomerTokens,
    new_conversation_id,
)
from handoff.core.delivery_hub import SWEEP_SECONDS, Delivery, DeliveryHub, HubClosed, Subscription
from handoff.core.http_errors import HttpError, check_websocket_handshake, http_error
from handoff.core.lifecycle import State
from handoff.core.outbox import Entry, Outbox, check_message_id, normalize_message
from handoff.core.redaction import mask_transcript_text
from handoff.core.resources import Resources
from handoff.core.resume_links import ResumeLinks
from handoff.core.settings import REPO_ROOT, HandoffConfig, load_config
from handoff.core.store import HandoffStore
from handoff.core.text_rules import check_text, describe, first_forbidden
from handoff.core.tickets import TicketStatus

logger = logging.getLogger(__name__)
# Rasa imports this module before it serves: the hook that keeps tokens (the socket's
# ?token=, Bearer headers) out of every log line of the Rasa process.
log_redaction.install()

CHANNEL = "widget"
WITH_CSR = (State.QUEUED, State.ASSIGNED)
PAGE = 100  # outbox entries per GET
MAX_META_CHARS = {"page_url": 2048, "locale": 35}
THANKS_TEXT = "Thank you for your feedback!"
LEFT_QUEUE_TEXT = "You left the queue. The assistant is here if you need anything else."
TICKET_NOTICE = "Added to your ticket {ticket_id}: the team will answer here{mail}."
_RATING = re.compile(r"^/csat_rating(?![\w.-])(.*)$", re.DOTALL)
MULTIPART_OVERHEAD = 16 * 1024  # boundaries and part headers around an upload's bytes

_CLOSED = (ConnectionClosed, WebsocketClosed)
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


# ---- Redis keys of this channel (the outbox and handoff keys live in handoff.core.keys) ---------


def rate_key(scope: str, subject: str, window: int) -> str:
    """Counter of requests by ``subject`` (a conversation id or a client IP) in one minute."""
    return f"widget:rate:{scope}:{window}:{subject}"


def meta_key(conv_id: str) -> str:
    """Hash of the page and locale the widget last reported for a conversation."""
    return f"widget:meta:{conv_id}"


# ---- settings and errors -----------------------------------------------------------------------


@dataclass(frozen=True)
class WidgetSettings:
    """Everything the channel needs; built from ``credentials.yml`` and the handoff config.

    Attributes:
        shared: The product's settings (handoff.yml and the environment) with the Redis
            URL this channel uses; the composition root builds the store and outbox from it.
        token_ttl_seconds: Lifetime of a customer token.
        max_message_chars: Longest customer message accepted.
        rate_limit_per_minute: Messages per conversation per minute.
        session_rate_limit_per_minute: New sessions per client IP per minute.
        openapi_file: The OpenAPI document served at ``/webhooks/widget/openapi.yaml``.
    """

    shared: HandoffConfig
    token_ttl_seconds: int = DEFAULT_TTL_SECONDS
    max_message_chars: int = 2000
    rate_limit_per_minute: int = 20
    session_rate_limit_per_minute: int = 30
    openapi_file: Path = REPO_ROOT / "docs" / "widget-api.openapi.yaml"

    # Keys accepted in credentials.yml; the rest comes from the handoff config.
    CREDENTIAL_KEYS = (
        "redis_url",
        "token_ttl_seconds",
        "max_message_chars",
        "rate_limit_per_minute",
        "session_rate_limit_per_minute",
    )

    def __post_init__(self) -> None:
        """Reject values the channel cannot work with."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise errors.ConfigError(f"widget channel: {f.name} must be a positive integer")
        if not self.redis_url or not self.secret:
            raise errors.ConfigError("widget channel: redis_url and secret are required")

    @property
    def redis_url(self) -> str:
        """Redis shared with the handoff service."""
        return self.shared.redis_url

    @property
    def secret(self) -> str:
        """HS256 key of customer tokens (the handoff secret)."""
        return self.shared.secret

    @classmethod
    def from_credentials(
        cls,
        credentials: Optional[Mapping[str, Any]],
        config: HandoffConfig,
        env: Optional[Mapping[str, str]] = None,
    ) -> "WidgetSettings":
        """Credentials first, then ``$REDIS_URL``, then the handoff config.

        Raises:
            ConfigError: unknown keys or invalid values.
        """
        env = os.environ if env is None else env
        given = dict(credentials or {})
        unknown = set(given) - set(cls.CREDENTIAL_KEYS)
        if unknown:
            raise errors.ConfigError(
                f"widget channel: unknown credentials keys: "
                f"{', '.join(sorted(unknown))}; known: "
                f"{', '.join(cls.CREDENTIAL_KEYS)}"
            )
        given = {k: v for k, v in given.items() if v is not None}
        redis_url = given.pop("redis_url", None) or env.get("REDIS_URL") or config.redis_url
        return cls(shared=replace(config, redis_url=str(redis_url)), **given)


def _json_errors(handler: Callable[..., Awaitable[HTTPResponse]]):
    """Turn every exception of an HTTP handler into the channel's JSON error shape."""

    @functools.wraps(handler)
    async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        try:
            return await handler(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the edge: everything becomes JSON
            process_metrics.count_redis_error(operations.SERVER, exc)
            err = http_error(exc, f"widget {request.method} {request.path}")
            return response.json(err.body, status=err.status, headers=err.headers)

    return wrapped


# ---- output -------------------------------------------------------------------------------------


class OutboxOutput(OutputChannel):
    """Writes every bot message to the recipient's outbox; remembers what it wrote.

    Args:
        outbox: The outbox to append to.
    """

    def __init__(self, outbox: Outbox):
        """Create an output channel over one outbox."""
        self._outbox = outbox
        self.entries: List[Entry] = []

    @classmethod
    def name(cls) -> Text:
        """Rasa's name of this output channel."""
        return CHANNEL

    async def append(self, recipient_id: Text, message: Dict[str, Any]) -> str:
        """Put one message (a dict with ``text``) in the outbox and remember its id."""
        body = normalize_message({"sender": "bot", **message})
        entry_id = await self._outbox.append(recipient_id, body)
        process_metrics.count_message("out", "bot")
        self.entries.append((entry_id, body))
        return entry_id

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """A plain text reply."""
        await self.append(recipient_id, {"text": text})

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        """A reply with buttons (``title`` + ``payload``; ``url`` kept for link buttons).

        The bot's "did that solve it?" (an action asks it) gets the follow-up's ``kind``,
        as the CSR close path's question has.
        """
        message = {"text": text or "", "buttons": _buttons(buttons)}
        if followup.is_request(message["buttons"]):
            message["kind"] = followup.KIND
        await self.append(recipient_id, message)

    async def send_quick_replies(
        self, recipient_id: Text, text: Text, quick_replies: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        """Quick replies are shown as buttons."""
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        """An image by URL."""
        await self.append(recipient_id, {"text": "", "image": image})

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        """An attachment, passed through as-is."""
        await self.append(recipient_id, {"text": "", "attachment": attachment})

    async def send_elements(self, recipient_id: Text, elements: Any, **kwargs: Any) -> None:
        """Carousel elements, passed through as-is."""
        await self.append(recipient_id, {"text": "", "elements": list(elements)})

    async def send_custom_json(
        self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any
    ) -> None:
        """A custom payload, passed through as ``custom``."""
        await self.append(recipient_id, {"text": "", "custom": json_message})


def _buttons(buttons: Any) -> List[Dict[str, str]]:
    result = []
    for button in buttons or []:
        if not isinstance(button, Mapping):
            continue
        shaped = {
            "title": str(button.get("title", "")),
            "payload": "" if button.get("payload") is None else str(button["payload"]),
        }
        if button.get("url"):
            shaped["url"] = str(button["url"])
        result.append(shaped)
    return result


def _frame(delivery: Delivery) -> Dict[str, Any]:
    """A socket frame: an outbox entry (``message``) or a CSR's typing notice (``typing``)."""
    if delivery.kind == "message" and delivery.entry is not None:
        entry_id, message = delivery.entry
        return {"type": "message", "id": entry_id, "message": message}
    return {"type": "typing", **(delivery.notice or {})}


def _wire(entry: Entry) -> Dict[str, Any]:
    """An outbox entry as the HTTP API shows it: the message with its ``id``."""
    entry_id, message = entry
    return {**message, "id": entry_id}


# ---- the input channel --------------------------------------------------------------------------


class WidgetInput(InputChannel):
    """The website widget's channel: sessions, messages, catch-up and a live socket.

    Args:
        settings: Limits, token lifetime and where Redis is.
        clock: Returns the current epoch time for rate-limit windows (tests pass a fake one).
    """

    @classmethod
    def name(cls) -> Text:
        """Rasa's name of this channel (and the URL prefix ``/webhooks/widget``)."""
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WidgetInput":
        """Build the channel from its ``credentials.yml`` section and the handoff config.

        Raises:
            ConfigError: unknown keys, bad values, or an unsafe secret outside dev.
        """
        config = load_config()
        config.check_secret()
        log_format.apply(config.log_format)  # the rest once Sanic has its handlers (operations)
        return cls(WidgetSettings.from_credentials(credentials, config))

    def __init__(self, settings: WidgetSettings, clock: Callable[[], float] = time.time):
        """Keep the settings; Redis is connected on first use."""
        self.settings = settings
        self._clock = clock
        self.tokens = CustomerTokens(settings.secret, settings.token_ttl_seconds)
        self.resources = Resources(settings.shared)
        self.sweep_seconds = SWEEP_SECONDS
        self._hub: Optional[DeliveryHub] = None

    # -- collaborators, built by the composition root on first use (the server's event loop) --

    @property
    def redis(self) -> aioredis.Redis:
        """The one Redis client of this channel."""
        return self.resources.redis

    @property
    def outbox(self) -> Outbox:
        """Conversation outboxes."""
        return self.resources.outbox

    @property
    def store(self) -> HandoffStore:
        """Handoff records (state, transcript, CSAT)."""
        return self.resources.store

    @property
    def resume_links(self) -> ResumeLinks:
        """Mails' resume links (signed with the same handoff secret as customer tokens)."""
        return self.resources.resume_links

    @property
    def attachments(self) -> Attachments:
        """Files customers send to CSRs."""
        return self.resources.attachments

    @property
    def followups(self) -> followup.Followups:
        """The "did that solve it?" questions and their answers."""
        return self.resources.followups

    @property
    def hub(self) -> DeliveryHub:
        """Live delivery to every socket of this process, over two Redis connections."""
        if self._hub is None:
            self._hub = DeliveryHub(self.redis, self.outbox, sweep_seconds=self.sweep_seconds)
        return self._hub

    async def close(self) -> None:
        """Stop the delivery hub and close the Redis client (the next use opens new ones)."""
        hub, self._hub = self._hub, None
        if hub is not None:
            await hub.close()
        await self.resources.close()

    def get_output_channel(self) -> OutputChannel:
        """Where ``?output_channel=latest`` of Rasa's HTTP API delivers: the outbox."""
        return OutboxOutput(self.outbox)

    # -- routes --

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The routes under ``/webhooks/widget/`` (see ``docs/widget-api.md``)."""
        bp = Blueprint(f"widget_webhook_{type(self).__name__}")
        operations.add_routes(bp, lambda: self.redis, self.settings.shared.log_format)

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/openapi.yaml", methods=["GET"])
        @_json_errors
        async def openapi(request: Request) -> HTTPResponse:
            path = self.settings.openapi_file
            try:
                body = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                raise errors.NotFound(f"OpenAPI document missing: {exc}") from exc
            return response.raw(body, content_type="application/yaml")

        @bp.route("/session", methods=["POST"])
        @_json_errors
        async def session(request: Request) -> HTTPResponse:
            return response.json(await self.open_session(request))

        @bp.route("/messages", methods=["POST"])
        @_json_errors
        async def post_message(request: Request) -> HTTPResponse:
            conv_id = self.tokens.verify(_bearer(request))
            body = _json_object(request.body, required=True)
            status, entries = await self.handle_text(
                request, on_new_message, conv_id, body.get("text"), body.get("metadata")
            )
            return response.json({"messages": [_wire(e) for e in entries]}, status=status)

        @bp.route("/messages", methods=["GET"])
        @_json_errors
        async def get_messages(request: Request) -> HTTPResponse:
            conv_id = self.tokens.verify(_bearer(request))
            entries = await self.outbox.read_after(
                conv_id, request.args.get("after") or None, count=PAGE + 1
            )
            return response.json(
                {"messages": [_wire(e) for e in entries[:PAGE]], "more": len(entries) > PAGE}
            )

        @bp.route("/leave", methods=["POST"])
        @_json_errors
        async def leave(request: Request) -> HTTPResponse:
            conv_id = self.tokens.verify(_bearer(request))
            return response.json(await self.leave_queue(request, conv_id))

        @bp.route("/attachments", methods=["POST"], stream=True)
        @_json_errors
        async def post_attachment(request: Request) -> HTTPResponse:
            conv_id = self.tokens.verify(_bearer(request))
            await self._check_rate("attachments", conv_id, self.settings.rate_limit_per_minute)
            filename, data = await _read_upload(request, self.attachments.max_bytes)
            attachment, entry = await self.attachments.receive(conv_id, filename, data)
            return response.json(
                {"attachment": attachment.to_dict(), "messages": [_wire(entry)]}, status=201
            )

        @bp.route("/attachments/<attachment_id:str>", methods=["GET"])
        @_json_errors
        async def get_attachment(request: Request, attachment_id: str) -> HTTPResponse:
            conv_id = self.tokens.verify(_bearer(request))
            attachment, data = await self.attachments.get(conv_id, attachment_id)
            return response.raw(
                data, content_type=attachment.type, headers=download_headers(attachment)
            )

        @bp.websocket("/ws")
        async def socket(request: Request, ws: Any) -> None:
            await self.serve_socket(request, ws, on_new_message)

        @bp.middleware("request")
        async def check_handshake(request: Request) -> Optional[HTTPResponse]:
            # A plain GET of the socket gets 426 (a broken handshake 400), not the HTML 500 of
            # Sanic's failed handshake.
            if request.path.endswith("/ws"):
                try:
                    check_websocket_handshake(request.headers)
                except errors.InvalidInput as exc:
                    err = http_error(exc)
                    return response.json(
                        err.body, status=err.status, headers={**API_HEADERS, **err.headers}
                    )
            return None

        @bp.middleware("request")
        async def check_origin(request: Request) -> Optional[HTTPResponse]:
            # Before the handshake: a page from an origin not in allowed_origins gets a 403,
            # never an open socket.
            if request.path.endswith("/ws") and not self.settings.shared.origin_allowed(
                request.headers.get("origin")
            ):
                refused = errors.Forbidden(
                    "pages from this origin may not open the widget socket (allowed_origins)",
                    code="origin_not_allowed",
                )
                err = http_error(refused)
                return response.json(err.body, status=err.status, headers=API_HEADERS)
            return None

        @bp.middleware("response")
        async def api_headers(request: Request, resp: HTTPResponse) -> None:
            # Tokens and transcripts: never sniffed, never cached by a browser or proxy.
            if resp is not None:
                for name, value in API_HEADERS.items():
                    resp.headers.setdefault(name, value)

        @bp.listener("after_server_stop")
        async def close_redis(app: Any, loop: Any = None) -> None:
            await self.close()

        return bp

    # -- what the routes do --

    async def open_session(self, request: Request) -> Dict[str, Any]:
        """Resume the conversation of a valid bearer token, or start a new one.

        A body with ``resume`` (the token of a mail's resume link) opens that link's
        conversation instead, whatever the bearer token, and answers with the customer's
        side of the thread (``history``), which the outbox does not hold.

        Raises:
            ResumeLinkError: the resume token is tampered with, expired or no resume token.
        """
        body = _json_object(request.body, required=False)
        metadata = _clean_metadata(body)
        if "resume" in body:
            conv_id, ticket_id = self.resume_links.verify(body["resume"])
            issued = self.tokens.issue(conv_id)
            await self._remember_metadata(conv_id, metadata)
            history = await self._customer_history(conv_id, ticket_id)
            return {**issued.to_dict(), "resumed": True, "ticket_id": ticket_id, "history": history}
        conv_id = None
        bearer = _bearer(request)
        if bearer:
            try:
                conv_id = self.tokens.verify(bearer)
            except CustomerTokenError:
                conv_id = None  # stale or foreign token: a fresh conversation instead
        resumed = conv_id is not None
        if not resumed:
            await self._check_rate(
                "session",
                request.remote_addr or request.ip or "unknown",
                self.settings.session_rate_limit_per_minute,
            )
            conv_id = new_conversation_id()
            await self.store.note_conversation_started(conv_id)
        issued = self.tokens.issue(conv_id)
        await self._remember_metadata(conv_id, metadata)
        return {**issued.to_dict(), "resumed": resumed}

    async def _customer_history(
        self, conv_id: str, ticket_id: Optional[str]
    ) -> List[Dict[str, Any]]:
        """The customer's messages of a conversation, each placed after an outbox entry.

        From the handoff transcript, plus the ticket's replies by email and those written in
        the widget since the ticket was opened (``via: chat``). ``after`` is the id of the
        newest outbox entry older than the message (None: before them all), as the widget
        anchors the messages it sends itself.
        """
        messages = [
            {"text": m.get("text", ""), "timestamp": float(m.get("timestamp") or 0), "via": "chat"}
            for m in await self.store.transcript(conv_id)
            if m.get("sender") == "customer" and m.get("text")
        ]
        if ticket_id:
            seen = {m["text"] for m in messages}
            try:
                thread = await self.resources.tickets.thread(ticket_id)
            except errors.NotFound:
                thread = []
            messages += [
                {
                    "text": m["text"],
                    "timestamp": float(m.get("at") or 0),
                    "via": "email" if m["via"] == "email" else "chat",
                }
                for m in thread
                if m.get("sender") == "customer"
                and m.get("via") in ("email", "widget")
                and m.get("text")
                and m["text"] not in seen
            ]
        ids = [entry_id for entry_id, _ in await self.outbox.read_after(conv_id, None, count=1000)]
        stamps = [int(entry_id.split("-")[0]) for entry_id in ids]
        for message in messages:
            before = bisect.bisect_right(stamps, int(message["timestamp"] * 1000))
            message["after"] = ids[before - 1] if before else None
        return sorted(messages, key=lambda m: m["timestamp"])

    async def handle_text(
        self, request: Request, on_new_message: OnNewMessage, conv_id: str, text: Any, metadata: Any
    ) -> Tuple[int, List[Entry]]:
        """One customer message, from HTTP or the socket.

        Returns:
            The status (200, or 202 while a CSR has the conversation) and the outbox
            entries written while handling it.

        Raises:
            InvalidInput, PayloadTooLarge, TooManyRequests, Conflict: empty, too long,
                rate-limited, a rating that cannot count, or an answer to no open
                follow-up question.
        """
        text = self._check_text(text)
        metadata = _clean_metadata(metadata)
        await self._check_rate("messages", conv_id, self.settings.rate_limit_per_minute)
        output = OutboxOutput(self.outbox)
        score = await self._rating(conv_id, text)
        if score is not None:
            await self._rate(conv_id, score, output)
            return 200, output.entries
        solved = await self._followup_answer(conv_id, text)
        if solved is not None:
            await self._answer_followup(conv_id, solved, output)
            return 200, output.entries
        state = await self._state(conv_id)
        metadata = await self._remember_metadata(conv_id, metadata)
        if state is State.TICKET:
            await self._add_to_ticket(conv_id, text, output)
        message = UserMessage(
            text, output, sender_id=conv_id, input_channel=CHANNEL, metadata=metadata or None
        )
        failed = False
        process_metrics.count_message("in", "customer")
        started = time.monotonic()
        try:
            await on_new_message(message)
        except Exception:  # noqa: BLE001 - Rasa's failure must not lose the message
            logger.exception("widget channel: Rasa failed on a message of %s", conv_id)
            failed = True
        if not failed and state not in WITH_CSR:  # a paused tracker answers nothing
            process_metrics.REPLY_LATENCY.observe(time.monotonic() - started)
        if state in WITH_CSR:
            # The CSR must see it even when Rasa failed (then without an intent).
            intent, confidence = (None, None) if failed else await _latest_intent(request, conv_id)
            try:
                await self.store.record_customer_message(
                    conv_id, mask_transcript_text(text), intent=intent, confidence=confidence
                )
            except errors.ConversationNotFound:
                logger.warning("widget channel: handoff record of %s vanished", conv_id)
            return 202, output.entries
        if failed:
            raise errors.UpstreamError(
                "the assistant could not answer just now; please try again", code="bot_unavailable"
            )
        return 200, output.entries

    async def _add_to_ticket(self, conv_id: str, text: str, output: OutboxOutput) -> None:
        """Put a message written in a ticket's conversation on the ticket's thread.

        The ticket is open again (a solved one counts as reopened). When that changed its
        status (it was waiting on the customer, or solved), one notice tells the customer
        the team has it. Best effort: whatever fails here, the bot still gets the message.
        """
        try:
            tickets = self.resources.tickets
            ticket = await tickets.of_conversation(conv_id)
            if ticket is None:
                return
            # Masked as in the transcript: CSRs read the thread.
            await tickets.customer_replied(ticket.id, mask_transcript_text(text), via="widget")
            if ticket.status is not TicketStatus.OPEN:
                mail = (
                    " and by email" if ticket.email and self.settings.shared.email.enabled else ""
                )
                notice = TICKET_NOTICE.format(ticket_id=ticket.id, mail=mail)
                await output.append(
                    conv_id, {"sender": "system", "text": notice, "ticket_id": ticket.id}
                )
        except Exception:  # noqa: BLE001 - the ticket's loss; the bot must still answer
            logger.exception("widget channel: a message of %s did not reach its ticket", conv_id)

    async def leave_queue(self, request: Request, conv_id: str) -> Dict[str, Any]:
        """The customer stops waiting for a CSR: abandon the queue, the bot has them again.

        Raises:
            InvalidTransition: the conversation is not waiting in the queue.
        """
        conv = await self.store.abandon(conv_id)
        await _resume_tracker(request, conv_id)
        notice = normalize_message({"sender": "system", "text": LEFT_QUEUE_TEXT})
        entry_id = await self.outbox.append(conv_id, notice)
        return {"state": conv.state.value, "messages": [_wire((entry_id, notice))]}

    async def serve_socket(self, request: Request, ws: Any, on_new_message: OnNewMessage) -> None:
        """Backlog after ``after``, then live outbox entries and typing notices; client frames."""
        try:
            conv_id = self.tokens.verify(request.args.get("token"))
        except CustomerTokenError as exc:
            await _send_error(ws, http_error(exc, "widget socket"))
            await ws.close(4401, "unauthorized")
            return
        after = request.args.get("after") or None
        try:
            if after is not None:
                check_message_id(after)
        except errors.InvalidInput as refused:
            await _send_error(ws, http_error(refused))
            await ws.close(4400, "invalid after")
            return
        async with self.hub.subscribe(conv_id, after) as subscription:
            await self._serve_subscribed(request, ws, conv_id, subscription, on_new_message)

    async def _serve_subscribed(
        self,
        request: Request,
        ws: Any,
        conv_id: str,
        subscription: Subscription,
        on_new_message: OnNewMessage,
    ) -> None:
        tasks = [
            asyncio.ensure_future(self._deliver(ws, subscription)),
            asyncio.ensure_future(self._receive(request, ws, conv_id, on_new_message)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                # recv() ends as "cancelled" when the client goes away.
                exc = None if task.cancelled() else task.exception()
                if exc is not None and not isinstance(exc, _CLOSED):
                    await _send_error(ws, http_error(exc, "widget socket"))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- socket loops --

    async def _deliver(self, ws: Any, subscription: Subscription) -> None:
        """Send what the hub has for this socket until it closes (or the hub stops)."""
        while True:
            try:
                delivery = await subscription.next()
            except HubClosed:
                return  # the server is stopping
            await ws.send(json.dumps(_frame(delivery)))

    async def _receive(
        self, request: Request, ws: Any, conv_id: str, on_new_message: OnNewMessage
    ) -> None:
        while True:
            raw = await ws.recv()
            if raw is None:
                continue
            try:
                await self._on_frame(request, ws, conv_id, on_new_message, raw)
            except _CLOSED:
                raise
            except Exception as exc:  # noqa: BLE001 - a bad frame never closes the socket
                await _send_error(ws, http_error(exc, "widget socket"))

    async def _on_frame(
        self, request: Request, ws: Any, conv_id: str, on_new_message: OnNewMessage, raw: Any
    ) -> None:
        if not isinstance(raw, str):
            raise errors.InvalidInput("frames must be JSON text", code="invalid_frame")
        frame = _json_object(raw.encode(), required=True)
        kind = frame.get("type")
        if kind == "message":
            await self.handle_text(
                request, on_new_message, conv_id, frame.get("text"), frame.get("metadata")
            )
        elif kind == "ack":
            pass  # delivery state lives in the client; the id only documents what it showed
        elif kind == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        else:
            raise errors.InvalidInput(
                "frame `type` must be one of message, ack, ping", code="invalid_frame"
            )

    # -- rules --

    def _check_text(self, text: Any) -> str:
        return check_text(text, "text", max_chars=self.settings.max_message_chars)

    async def _check_rate(self, scope: str, subject: str, limit: int) -> None:
        now = self._clock()
        key = rate_key(scope, subject, int(now // 60))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
        if int(count) > limit:
            wait = max(1, 60 - int(now % 60))
            raise errors.TooManyRequests(
                f"more than {limit} requests a minute; try again in {wait} s", retry_after=wait
            )

    async def _state(self, conv_id: str) -> State:
        try:
            return (await self.store.get(conv_id)).state
        except errors.ConversationNotFound:
            return State.BOT

    async def _rating(self, conv_id: str, text: str) -> Optional[int]:
        """The 1-5 score if ``text`` answers a rating request, else None."""
        stripped = text.strip()
        match = _RATING.match(stripped)
        if match:
            try:
                entities = json.loads(match.group(1).strip() or "{}")
            except ValueError:
                entities = {}
            score = entities.get("csat_score") if isinstance(entities, dict) else None
            if isinstance(score, str) and score.strip().isdigit():
                score = int(score)
            if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
                raise errors.InvalidInput("csat_score must be an integer from 1 to 5")
            return score
        if stripped in ("1", "2", "3", "4", "5") and await self._newest_kind(conv_id) == (
            "csat_request"
        ):
            return int(stripped)
        return None

    async def _newest_kind(self, conv_id: str) -> Optional[str]:
        # A read-only peek at the newest outbox message (Outbox exposes only its id).
        newest = await self.redis.xrevrange(keys.outbox(conv_id), count=1)
        if not newest:
            return None
        try:
            message = json.loads(newest[0][1].get("message", "{}"))
        except ValueError:
            return None
        return message.get("kind") if isinstance(message, dict) else None

    async def _rate(self, conv_id: str, score: int, output: OutboxOutput) -> None:
        try:
            if await self.followups.csat_for(conv_id) == "bot":
                await self.followups.rate(conv_id, score)  # a case the bot finished
            else:
                await self.store.set_csat(conv_id, score)
        except (errors.ConversationNotFound, errors.InvalidTransition) as exc:
            raise errors.Conflict(
                "only a chat closed by our support team can be rated", code="cannot_rate"
            ) from exc
        await output.append(conv_id, {"kind": "csat_thanks", "text": THANKS_TEXT})

    async def _followup_answer(self, conv_id: str, text: str) -> Optional[bool]:
        """True/False if ``text`` answers "did that solve it?", else None.

        A typed yes or no counts only while the question is the newest message, so a "no"
        to any other question still reaches the bot.
        """
        solved = followup.parse_answer(text, typed_answers=True)
        if solved is None or followup.is_payload(text):
            return solved
        return solved if await self._newest_kind(conv_id) == followup.KIND else None

    async def _answer_followup(self, conv_id: str, solved: bool, output: OutboxOutput) -> None:
        answer = await self.followups.answer(conv_id, solved)
        for message in answer.replies():
            await output.append(conv_id, message)
        if answer.ask_csat:
            await output.append(conv_id, csat_request())

    async def _remember_metadata(self, conv_id: str, given: Dict[str, str]) -> Dict[str, str]:
        """Merge ``given`` into what the widget reported before; return the merged view."""
        key = meta_key(conv_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if given:
                pipe.hset(key, mapping=given)
                pipe.expire(key, self.settings.token_ttl_seconds)
            pipe.hgetall(key)
            *_, stored = await pipe.execute()
        return {str(k): str(v) for k, v in (stored or {}).items()}


# ---- request helpers ----------------------------------------------------------------------------


def _bearer(request: Request) -> Optional[str]:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _json_object(body: Optional[bytes], required: bool) -> Dict[str, Any]:
    if not body or not body.strip():
        if required:
            raise errors.InvalidInput("the body must be a JSON object", code="invalid_json")
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidInput(
            f"the body is not valid JSON: {exc}", code="invalid_json"
        ) from exc
    if not isinstance(value, dict):
        raise errors.InvalidInput("the body must be a JSON object", code="invalid_json")
    return value


async def _read_upload(request: Request, max_bytes: int) -> Tuple[Optional[str], bytes]:
    """The name and bytes of the one ``file`` of a multipart body, reading no more than needed.

    The route streams: a body that cannot hold a file of ``max_bytes`` is refused as soon as
    it is larger, never kept whole (Sanic discards the rest).
    """
    kind, options = parse_content_header(request.headers.get("content-type", ""))
    if kind != "multipart/form-data" or not options.get("boundary"):
        raise errors.InvalidInput(
            "send the file as multipart/form-data in a `file` field", code="invalid_upload"
        )
    body = bytearray()
    while (chunk := await request.stream.read()) is not None:
        body += chunk
        if len(body) > max_bytes + MULTIPART_OVERHEAD:
            raise errors.PayloadTooLarge(
                f"files are limited to {describe_size(max_bytes)}", code="attachment_too_large"
            )
    try:
        _, files = parse_multipart_form(bytes(body), str(options["boundary"]).encode())
    except Exception as exc:  # noqa: BLE001 - whatever Sanic's parser trips on is a bad body
        raise errors.InvalidInput("the multipart body is malformed", code="invalid_upload") from exc
    uploads = [upload for group in files.values() for upload in group]
    if len(uploads) != 1 or "file" not in files:
        raise errors.InvalidInput("send exactly one file, in a `file` field", code="invalid_upload")
    return uploads[0].name, uploads[0].body


def _clean_metadata(raw: Any) -> Dict[str, str]:
    """``page_url`` and ``locale`` only: clients cannot write anything else into the tracker."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise errors.InvalidInput("`metadata` must be a JSON object")
    clean = {}
    for key, limit in MAX_META_CHARS.items():
        value = raw.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > limit:
            raise errors.InvalidInput(f"`{key}` must be a string of at most {limit} characters")
        index = first_forbidden(value)
        if index is not None:
            # It goes to Redis, the tracker and the CSR console: a lone surrogate was a 500.
            raise errors.InvalidInput(
                f"`{key}` contains the control character {describe(value[index])} at "
                f"position {index}"
            )
        clean[key] = value
    return clean


async def _send_error(ws: Any, err: HttpError) -> None:
    try:
        await ws.send(json.dumps({"type": "error", **err.body}))
    except _CLOSED:
        pass


# ---- the Rasa agent in this process (absent in tests that fake on_new_message) -------------


async def _latest_intent(request: Request, conv_id: str) -> Tuple[Optional[str], Optional[float]]:
    """The intent Rasa gave the customer's latest message, best effort."""
    agent = getattr(request.app.ctx, "agent", None)
    if agent is None or getattr(agent, "processor", None) is None:
        return None, None
    try:
        tracker = await agent.processor.get_tracker(conv_id)
        intent = (tracker.latest_message.intent or {}) if tracker.latest_message else {}
    except Exception as exc:  # noqa: BLE001 - the transcript entry matters more
        logger.warning("widget channel: no intent for %s: %s", conv_id, exc)
        return None, None
    confidence = intent.get("confidence")
    return intent.get("name"), None if confidence is None else float(confidence)


async def _resume_tracker(request: Request, conv_id: str) -> bool:
    """Append ConversationResumed so the bot predicts again (as the service does on release)."""
    agent = getattr(request.app.ctx, "agent", None)
    if agent is None or getattr(agent, "processor", None) is None:
        logger.warning("widget channel: no Rasa agent to resume %s", conv_id)
        return False
    from rasa.shared.core.events import ConversationResumed

    try:
        async with agent.lock_store.lock(conv_id):
            tracker = await agent.processor.get_tracker(conv_id)
            tracker.update(ConversationResumed())
            await agent.processor.save_tracker(tracker)
    except Exception as exc:  # noqa: BLE001 - the customer already left the queue
        logger.error("widget channel: could not resume the tracker of %s: %s", conv_id, exc)
        return False
    return True
