"""How log lines look, the same in every process: ``text`` (default) or ``json``.

``log_format: json`` in ``handoff.yml`` (or ``LOG_FORMAT=json``) makes every process of
the product (handoff service, Rasa with the widget channel, action server) write one
JSON object per line, for a log shipper: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
``message``, the record's ``extra`` fields (Sanic's access log adds ``host``, ``request``,
``status``, ``byte``), ``exception`` with the traceback, and ``event`` when the message
is itself a JSON object (Rasa's structlog lines are when not on a terminal).

:func:`apply` sets the formatter on the handlers already configured, whoever made them
(basicConfig, Sanic's and Rasa's ``dictConfig``, coloredlogs); each process calls it
once its framework has set up logging. Token redaction (:mod:`handoff.core.log_redaction`)
happens before formatting, so JSON lines are redacted too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Dict, Iterator, Optional

TEXT = "text"
JSON = "json"
FORMATS = (TEXT, JSON)

_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn/coloredlogs duplicates of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, keys in a stable order."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON."""
        message = record.getMessage()
        line: Dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        event = _json_object(message)
        if event is not None:
            line["event"] = event
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                line.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str, ensure_ascii=False)


def _json_object(message: str) -> Optional[Dict[str, Any]]:
    if not message.startswith("{"):
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def check(log_format: str) -> str:
    """``log_format`` if it is a known format.

    Raises:
        ValueError: any other value.
    """
    if log_format not in FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    return log_format


def apply(log_format: str) -> None:
    """Use ``log_format`` for every handler configured so far (``text`` leaves them alone).

    Idempotent; call it again after a framework adds handlers of its own.
    """
    if check(log_format) != JSON:
        return
    logging.captureWarnings(True)  # Python's warnings as log records, not raw stderr lines
    formatter = JsonFormatter()
    for handler in _handlers():
        if not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(formatter)


def _handlers() -> Iterator[logging.Handler]:
    loggers = [logging.getLogger()]
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            loggers.append(logger)
    for logger in loggers:
        yield from list(logger.handlers)
