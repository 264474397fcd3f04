"""Operations endpoints of the Rasa process, served by the widget channel's blueprint.

Rasa itself has no readiness route nor Prometheus scrape; the widget channel is the code
of ours that runs in every Rasa process, so it adds them under ``/webhooks/widget/``:
``ready`` (Redis reachable and a model loaded: with the model server Rasa can run before
its first pull) and ``metrics`` (:mod:`handoff.core.process_metrics`). It also counts the
channel's error answers and applies the configured log format once Rasa and Sanic have
set up their logging.
"""

from __future__ import annotations

from typing import Any, Callable

import redis.asyncio as aioredis
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from handoff.core import log_format, process_metrics
from handoff.core.readiness import DOWN, OK, Readiness, redis_check

SERVER = "widget"


def add_routes(bp: Blueprint, redis: Callable[[], aioredis.Redis], configured_format: str) -> None:
    """Add ``ready``, ``metrics``, error counting and the log format to the channel's blueprint.

    Args:
        bp: The widget channel's blueprint (mounted at ``/webhooks/widget``).
        redis: Returns the channel's Redis client (built on first use, in the server's loop).
        configured_format: ``log_format`` of the handoff config (``text`` or ``json``).
    """

    @bp.route("/ready", methods=["GET"])
    async def ready(request: Request) -> HTTPResponse:
        result = Readiness(
            {"redis": await redis_check(redis(), SERVER), "model": _model_check(request.app)}
        )
        return response.json(result.body, status=result.status)

    @bp.route("/metrics", methods=["GET"])
    async def metrics(request: Request) -> HTTPResponse:
        body, content_type = process_metrics.exposition()
        return response.raw(body, content_type=content_type)

    @bp.middleware("response")
    async def count_errors(request: Request, resp: HTTPResponse) -> None:
        if resp is not None:
            process_metrics.count_http_status(SERVER, resp.status)

    @bp.listener("before_server_start")
    async def use_log_format(app: Any, loop: Any = None) -> None:
        # Sanic's and Rasa's handlers exist by now; the import-time ones got it already.
        log_format.apply(configured_format)


def _model_check(app: Any) -> str:
    """``ok`` when Rasa's agent has a model loaded (``rasa run``'s ``app.ctx.agent``)."""
    agent = getattr(app.ctx, "agent", None)
    return OK if agent is not None and agent.is_ready() else DOWN
