"""Keep tokens out of every log: one redaction for every log record of a process.

CSR and customer tokens travel in ``Authorization: Bearer`` headers and, on the two
WebSockets (browsers cannot set headers there), in ``?token=`` query strings; Rasa's
API token is a ``?token=`` too. Any log line quoting a URL or a header would then hold
a credential: Sanic's access log (the request line, in the record's ``extra``), Sanic's
error log (it quotes the URI of a failed request), the ``websockets`` debug log of each
handshake (request line and headers), Rasa's structlog lines, ours.

:func:`install` makes every record of the process go through :func:`redact` (message,
arguments, traceback) when it is created, whichever logger made it and whichever
handler will write it, and adds :class:`RedactTokens` to the loggers that put request
lines in ``extra``. Each process of the product calls it once at start-up: the handoff
service (``python -m handoff.service``), Rasa (importing the widget channel,
:mod:`bot.channel.widget`) and the action server (importing :mod:`actions`).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

REDACTED = "[redacted]"

# Every HS256 JWT (CSR and customer tokens) starts with the base64 of '{"', i.e. "eyJ".
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# `key`: the inbound email webhook's secret (POST /api/inbound/email?key=...).
_QUERY = re.compile(
    r"(?i)([?&;](?:token|access_token|auth_token|api_key|apikey|password|secret|key)=)"
    r"[^&#\s'\"]+"
)
_BEARER = re.compile(r"(?i)(\bbearer\s+)[^\s'\",;]+")
_JSON_FIELD = re.compile(
    r"(?i)([\"'](?:token|password|current_password|new_password|secret)[\"']\s*:\s*[\"'])"
    r"[^\"']+"
)

# Loggers whose records carry the request line in ``extra`` (Sanic's access log formats
# ``%(request)s``, i.e. "GET http://host/path?query").
EXTRA_LOGGERS = ("sanic.access", "sanic.error", "sanic.root")

_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


def redact(text: str) -> str:
    """``text`` with every token replaced by ``[redacted]``."""
    if not text:
        return text
    text = _JWT.sub(REDACTED, text)
    text = _QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _JSON_FIELD.sub(lambda m: m.group(1) + REDACTED, text)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place: message and arguments, traceback, string ``extra`` values."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format is reported by the handler as usual
        message = None
    if message is not None:
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        clean = redact(text)
        if clean != text:
            record.exc_text = clean  # formatters use it instead of formatting exc_info
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    for key, value in list(record.__dict__.items()):
        if key not in _STANDARD_ATTRIBUTES and isinstance(value, str):
            record.__dict__[key] = redact(value)
    return record


class RedactTokens(logging.Filter):
    """A logging filter that redacts tokens and lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` (see :func:`redact_record`); never drops it."""
        redact_record(record)
        return True


def install() -> None:
    """Redact every log record of this process from now on (idempotent).

    Records are redacted where they are made (a wrapped log record factory), so no
    handler or logger configured later (Sanic's and Rasa's ``dictConfig``, basicConfig)
    can bypass it; the filter on :data:`EXTRA_LOGGERS` covers what is attached after
    creation (``extra``).
    """
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacts_tokens", False):
        logging.setLogRecordFactory(_redacting(current))
    for name in EXTRA_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def _redacting(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(factory(*args, **kwargs))

    make_record.redacts_tokens = True  # type: ignore[attr-defined]
    return make_record
