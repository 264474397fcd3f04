"""The one error-to-HTTP mapping both Sanic apps answer with."""

from __future__ import annotations

import pytest
from redis.exceptions import BusyLoadingError, ReadOnlyError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import MasterNotFoundError

from bot.retraining import errors as retraining
from handoff.core import errors
from handoff.core.http_errors import REDIS_RETRY_AFTER_SECONDS, http_error, status_of
from handoff.core.outbox import InvalidMessageId


@pytest.mark.parametrize(
    "exc, status, code",
    [
        (errors.InvalidInput("bad"), 400, "invalid_input"),
        (errors.InvalidInput("no text", code="empty_message"), 400, "empty_message"),
        (errors.PayloadTooLarge("long", code="message_too_long"), 413, "message_too_long"),
        (errors.AuthError("who?"), 401, "unauthorized"),
        (errors.NotAssignee("not yours"), 403, "not_assignee"),
        (errors.ConversationNotFound("c-1"), 404, "conversation_not_found"),
        (errors.ClaimConflict("too late"), 409, "claim_conflict"),
        (errors.AccountExists("taken"), 409, "account_exists"),
        (errors.TooManyAttempts("slow down"), 429, "too_many_attempts"),
        (errors.UpstreamError("rasa down"), 502, "upstream_error"),
        (errors.Busy("again"), 503, "busy"),
        (errors.ConfigError("bad config"), 500, "config_error"),
        (retraining.InvalidFilter("bad date"), 400, "invalid_filter"),
        (retraining.ModelNotFound("no such model"), 404, "model_not_found"),
        (retraining.JobRunning("one at a time"), 409, "job_running"),
        (retraining.RasaUnavailable("refused"), 502, "rasa_unavailable"),
        (retraining.EvaluationFailed("crashed"), 500, "evaluation_failed"),
        (InvalidMessageId("`after` must be a message id"), 400, "invalid_input"),
    ],
)
def test_each_group_has_one_status_and_each_error_keeps_its_code(exc, status, code):
    err = http_error(exc, "TEST /path")
    assert (err.status, err.code) == (status, code) and status_of(exc) == status
    assert err.body == {"error": {"code": code, "message": exc.message}}


def test_a_rate_limit_says_when_to_come_back():
    err = http_error(errors.TooManyRequests("later", retry_after=17))
    assert err.status == 429 and err.headers == {"Retry-After": "17"}


def test_redis_down_is_a_503_and_a_bug_is_a_500_without_details(caplog):
    assert http_error(RedisConnectionError("refused")).status == 503
    err = http_error(KeyError("secret internals"), "GET /x")
    assert (err.status, err.code) == (500, "internal_error")
    assert "secret" not in err.message
    assert "unhandled error in GET /x" in caplog.text  # logged with its traceback for us


@pytest.mark.parametrize(
    "exc",
    [
        RedisConnectionError("refused"),
        RedisTimeoutError("no reply"),
        ReadOnlyError("a demoted primary refuses the write"),
        MasterNotFoundError("no Sentinel knows the primary"),
        BusyLoadingError("a restarted server loads its data"),
    ],
)
def test_every_redis_outage_is_a_503_that_says_when_to_retry(exc):
    err = http_error(exc, "GET /x")
    assert (err.status, err.code) == (503, "redis_unavailable")
    assert err.headers == {"Retry-After": str(REDIS_RETRY_AFTER_SECONDS)}
