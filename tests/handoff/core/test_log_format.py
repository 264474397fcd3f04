"""The one log format of every process: text by default, JSON lines on request."""

from __future__ import annotations

import io
import json
import logging

import pytest

from handoff.core import log_format, log_redaction
from handoff.core.errors import ConfigError
from handoff.core.settings import load_config


@pytest.fixture
def logger():
    """A logger of its own writing to a string, removed afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("tests.log_format")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log, handler, stream
    log.removeHandler(handler)


def lines(stream: io.StringIO):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_extra_fields_and_tracebacks(logger):
    log, handler, stream = logger
    handler.setFormatter(log_format.JsonFormatter())
    log.info("claimed %s", "c1", extra={"conv_id": "c1", "status": 200})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    first, second = lines(stream)
    assert first["message"] == "claimed c1" and first["level"] == "INFO"
    assert first["logger"] == "tests.log_format"
    assert first["conv_id"] == "c1" and first["status"] == 200
    assert first["time"].endswith("+00:00")
    assert "ValueError: boom" in second["exception"]


def test_a_json_message_is_kept_as_an_object(logger):
    # Rasa's structlog lines are JSON objects when not on a terminal.
    log, handler, stream = logger
    handler.setFormatter(log_format.JsonFormatter())
    log.info('{"event": "model.loaded", "model": "m.tar.gz"}')
    log.info("{not json")
    structured, plain = lines(stream)
    assert structured["event"] == {"event": "model.loaded", "model": "m.tar.gz"}
    assert "event" not in plain and plain["message"] == "{not json"


def test_tokens_stay_redacted_in_json(logger):
    log_redaction.install()
    log, handler, stream = logger
    handler.setFormatter(log_format.JsonFormatter())
    log.info("GET /webhooks/widget/ws?token=eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl")
    (line,) = lines(stream)
    assert "eyJ" not in json.dumps(line) and log_redaction.REDACTED in line["message"]


def test_apply_sets_every_handler_and_text_leaves_them(logger):
    log, handler, stream = logger
    original = logging.Formatter("%(message)s")
    handler.setFormatter(original)
    log_format.apply("text")
    assert handler.formatter is original
    try:
        log_format.apply("json")
        assert isinstance(handler.formatter, log_format.JsonFormatter)
    finally:
        handler.setFormatter(original)
    with pytest.raises(ValueError, match="log_format"):
        log_format.apply("xml")


def test_setting_and_environment(tmp_path):
    path = tmp_path / "handoff.yml"
    path.write_text("log_format: json\n")
    assert load_config(path, env={}).log_format == "json"
    assert load_config(path, env={"LOG_FORMAT": "TEXT"}).log_format == "text"
    assert load_config(tmp_path / "none.yml", env={}).log_format == "text"
    with pytest.raises(ConfigError, match="log_format"):
        load_config(path, env={"LOG_FORMAT": "xml"})
