"""No token in any log: the redaction itself, its installation in every process, and the real
stack used with tokens in headers and ``?token=`` query strings, every log file grepped."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

import websockets

from handoff.core.log_redaction import REDACTED, redact
from handoff.core.settings import REPO_ROOT
from tests.support.clients import WidgetCustomer, call
from tests.support.security import jwt_parts, login, stack_logs, ws_frames_for, ws_open, ws_url

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJjc3IifQ."
    "c2lnbmF0dXJlLW9mLXRoZS10b2tlbi0xMjM0NTY"
)


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_redact_removes_every_form_of_token():
    cases = {
        f"GET /api/events?token={JWT} HTTP/1.1": f"GET /api/events?token={REDACTED} HTTP/1.1",
        f"GET http://h/ws?after=1-0&token={JWT}&x=1": f"GET http://h/ws?after=1-0&token={REDACTED}&x=1",
        "GET /status?token=abcDEF123_-xyz": f"GET /status?token={REDACTED}",
        f"< Authorization: Bearer {JWT}": f"< Authorization: Bearer {REDACTED}",
        "authorization: bearer opaque-rasa-token": f"authorization: bearer {REDACTED}",
        f'{{"token": "{JWT}", "token_type": "Bearer"}}': (
            f'{{"token": "{REDACTED}", "token_type": "Bearer"}}'
        ),
        '{"current_password": "hunter22", "new_password": "hunter23"}': (
            f'{{"current_password": "{REDACTED}", "new_password": "{REDACTED}"}}'
        ),
        f"pasted {JWT} in the chat": f"pasted {REDACTED} in the chat",
    }
    for raw, expected in cases.items():
        assert redact(raw) == expected
        assert redact(expected) == expected  # idempotent
    for harmless in (
        "order A1002 ships to 94107",
        "GET /webhooks/widget/messages?after=1716543210123-0 200",
        "conversation 3f2a9c0d1b5e4f6a8b7c9d0e1f2a3b4c queued",
    ):
        assert redact(harmless) == harmless


def test_every_process_installs_it_at_start_up():
    """The modules each process imports before serving install the redaction."""
    for module in ("actions", "bot.channel.widget"):
        done = run_python(
            f"""
            import logging, {module}
            assert getattr(logging.getLogRecordFactory(), "redacts_tokens", False)
            """
        )
        assert done.returncode == 0, (module, done.stderr)
    # The handoff service's entry point, up to the moment it would serve.
    done = run_python(
        """
        import logging, sanic
        sanic.Sanic.run = lambda *args, **kwargs: None
        from handoff.service.__main__ import main
        assert main() == 0
        assert getattr(logging.getLogRecordFactory(), "redacts_tokens", False)
        """
    )
    assert done.returncode == 0, done.stderr


def test_records_are_redacted_whatever_logger_handler_or_configuration():
    """Sanic's access log (request line in ``extra``), its error log, websockets' handshake
    lines, structlog as Rasa configures it, tracebacks; handlers set up after install()."""
    done = run_python(
        f"""
        import logging, sys
        from handoff.core import log_redaction
        log_redaction.install()
        logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format="%(message)s")
        from sanic import Sanic
        Sanic("redaction_check")  # Sanic's dictConfig: its own handlers on its loggers
        from sanic.log import access_logger, error_logger
        token = "{JWT}"
        access_logger.info(
            "", extra={{"host": "1.2.3.4:5", "request": f"GET http://h/ws?token={{token}}",
                        "status": 101, "byte": 0}}
        )
        error_logger.error("Exception occurred while handling uri: %r", f"http://h/ws?token={{token}}")
        ws = logging.getLogger("websockets.server")
        ws.debug("< GET %s HTTP/1.1", f"/webhooks/widget/ws?token={{token}}")
        ws.debug("< %s: %s", "Authorization", f"Bearer {{token}}")
        import structlog
        structlog.configure(
            processors=[structlog.processors.JSONRenderer()],
            logger_factory=structlog.stdlib.LoggerFactory(),
        )
        structlog.get_logger("rasa").info("http.request", url=f"/ws?token={{token}}")
        try:
            raise ValueError(f"bad token {{token}}")
        except ValueError:
            logging.getLogger("handoff").exception("failed")
        late = logging.StreamHandler(sys.stdout)  # a handler added later
        logging.getLogger("late").addHandler(late)
        logging.getLogger("late").warning("Bearer %s", token)
        """
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert JWT.split(".")[2] not in out, out
    assert out.count(REDACTED) >= 8, out
    assert f"GET http://h/ws?token={REDACTED}" in out  # the access log's request line


def test_no_token_reaches_any_log_of_the_stack(stack):
    secrets = []
    # A CSR: token in headers, in ?token= of both HTTP and WebSocket requests, then revoked.
    token = login(stack.handoff_url, "alice", "demo-password")
    secrets += jwt_parts(token)
    call("GET", f"{stack.handoff_url}/api/me", token=token)
    call("GET", f"{stack.handoff_url}/api/queue?token={token}", token=token)
    call("GET", f"{stack.handoff_url}/api/me?token={token}")  # 401: the query is no credential
    call("GET", f"{stack.handoff_url}/api/events?token={token}")  # not an upgrade
    customer = WidgetCustomer(stack.rasa_url)
    secrets += jwt_parts(customer.token)

    async def sockets():
        events = ws_url(stack.handoff_url, "/api/events", token=token)
        async with websockets.connect(events) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            await ws_frames_for(ws, 1)
        await ws_open(events, origin="http://evil.example")  # refused: 403
        widget = ws_url(stack.rasa_url, "/webhooks/widget/ws", token=customer.token)
        async with websockets.connect(widget) as ws:
            await ws.send(json.dumps({"type": "message", "text": "where is my order?"}))
            await ws_frames_for(ws, 4)
        await ws_open(widget, origin="http://evil.example")
        await ws_open(widget + "x")  # a tampered token: error frame, close 4401

    asyncio.run(sockets())
    call("POST", f"{stack.handoff_url}/api/logout", {}, token)
    call("GET", f"{stack.handoff_url}/api/me", token=token)  # revoked: 401

    # A customer: token in headers and query strings, in a failing request, pasted in the chat.
    customer.say("hello")
    customer.say(f"is this my token? {customer.token}")
    call(
        "GET",
        f"{stack.rasa_url}/webhooks/widget/messages?token={customer.token}",
        token=customer.token,
    )
    call(
        "POST", f"{stack.rasa_url}/webhooks/widget/leave?token={customer.token}", {}, customer.token
    )
    try:
        urllib.request.urlopen(f"{stack.rasa_url}/webhooks/widget/ws?token={customer.token}")
    except urllib.error.HTTPError:
        pass  # a plain GET of the socket's route fails; its URL is what an error log quotes
    # Rasa's own API token travels as ?token= too.
    secrets.append(stack.rasa_token)
    call("GET", f"{stack.rasa_url}/status?token={stack.rasa_token}")
    call(
        "GET",
        f"{stack.rasa_url}/conversations/{customer.conversation_id}/tracker?token={stack.rasa_token}",
    )

    logs = stack_logs(stack)
    assert {"rasa.log", "actions.log", "handoff.log"} <= set(logs)
    # Not vacuous: Rasa's access log wrote those request lines, with the token redacted.
    assert f"/webhooks/widget/messages?token={REDACTED}" in logs["rasa.log"]
    for name, text in logs.items():
        for secret in secrets:
            assert secret not in text, f"a token in {name}"
