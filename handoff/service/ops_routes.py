"""Operations endpoints of the handoff service: readiness and Prometheus' scrape.

``/health`` (:mod:`handoff.service.routes`) is liveness. ``/ready`` says whether a load
balancer may send this instance traffic (Redis reachable). ``/prometheus`` is the scrape
of :mod:`handoff.core.process_metrics`: ``/metrics`` is the support lead's page here
(:mod:`handoff.service.pages`), the other processes serve their scrape at ``.../metrics``.
"""

from __future__ import annotations

import asyncio

from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw
from sanic.response import json as json_response

from handoff.core import keys, log_format, process_metrics
from handoff.core.readiness import CHECK_SECONDS, Readiness, redis_check

SERVER = "handoff"
PROMETHEUS_PATH = "/prometheus"
READY_PATH = "/ready"


def register(app: Sanic) -> None:
    """Add ``/ready``, ``/prometheus``, the error counting and the configured log format."""
    app.add_route(ready, READY_PATH, methods=["GET"])
    app.add_route(prometheus, PROMETHEUS_PATH, methods=["GET"])
    app.register_middleware(count_errors, "response")
    app.register_listener(use_log_format, "before_server_start")


async def ready(request: Request) -> HTTPResponse:
    """200 when Redis answers, 503 (``not_ready``) otherwise."""
    result = Readiness({"redis": await redis_check(request.app.ctx.redis, SERVER)})
    return json_response(result.body, status=result.status)


async def prometheus(request: Request) -> HTTPResponse:
    """This process's metrics, with the queue length read from Redis now.

    Answers even when Redis is down (the Redis errors are among the figures): the
    queue length then keeps its last value.
    """
    try:
        length = await asyncio.wait_for(request.app.ctx.redis.zcard(keys.QUEUE), CHECK_SECONDS)
        process_metrics.QUEUE_LENGTH.set(length)
    except asyncio.TimeoutError:
        process_metrics.count_redis_timeout(SERVER)
    except OSError:
        pass
    except Exception as exc:  # noqa: BLE001 - a Redis failure is counted, anything else raised
        if not process_metrics.count_redis_error(SERVER, exc):
            raise
    body, content_type = process_metrics.exposition(process_metrics.QUEUE_REGISTRY)
    return raw(body, content_type=content_type, headers={"Cache-Control": "no-store"})


async def use_log_format(app: Sanic, _loop: object = None) -> None:
    """Apply ``log_format`` to every handler, Sanic's (made with the app) included."""
    log_format.apply(app.ctx.config.log_format)


async def count_errors(request: Request, response: HTTPResponse) -> None:
    """Response middleware: count every answer of 400 or more, by status."""
    if response is not None:
        process_metrics.count_http_status(SERVER, response.status)
