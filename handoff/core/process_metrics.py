"""Operational metrics of one process, in Prometheus' format (``/metrics`` of each process).

Not to be confused with :mod:`handoff.core.metrics`: those are the product's business
figures (containment, CSAT, waits) kept in Redis for the support lead's page. These are
per-process counters for operators: they live in the process's memory, start at zero
when it starts, and Prometheus adds up the instances (``sum by (...)``) and computes rates.

Every process of the product (handoff service, Rasa with the widget channel, action
server) imports this one module, so the names are the same everywhere; each process
counts what happens in it. prometheus-client's default registry also brings the
``process_*`` (CPU, memory, open files) and ``python_*`` figures. One registry per
process: the servers run one Sanic worker each (more workers would need
prometheus-client's multiprocess mode).

No web framework here: the apps serve :func:`exposition` with their own response type.
"""

from __future__ import annotations

from typing import Iterable, Tuple

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from redis.exceptions import RedisError

PREFIX = "storefront"

MESSAGES = Counter(
    f"{PREFIX}_messages",
    "Chat messages handled by this process: direction in (from a customer) or out "
    "(to a customer); sender customer, bot or csr.",
    ["direction", "sender"],
)
REPLY_LATENCY = Histogram(
    f"{PREFIX}_reply_latency_seconds",
    "From a customer message reaching the widget channel until Rasa has handled it "
    "(the bot's replies are in the outbox).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0),
)
ESCALATIONS = Counter(
    f"{PREFIX}_escalations",
    "Conversations put in the CSR queue by this process, by reason (reasons not in "
    "the priorities setting count as other).",
    ["reason"],
)
HTTP_ERRORS = Counter(
    f"{PREFIX}_http_errors",
    "HTTP answers with a status of 400 or more, by server (handoff, widget, actions) and status.",
    ["server", "status"],
)
REDIS_ERRORS = Counter(
    f"{PREFIX}_redis_errors",
    "Redis failures seen by a request or a readiness check, by server and exception "
    "class (ConnectionError, TimeoutError, ReadOnlyError, ...).",
    ["server", "error"],
)

# Shared state, exported by the handoff service only: every instance would report the same
# figure, and a Rasa or action process reporting 0 would be wrong.
QUEUE_REGISTRY = CollectorRegistry(auto_describe=True)
QUEUE_LENGTH = Gauge(
    f"{PREFIX}_queue_length",
    "Conversations waiting for a CSR (read from Redis at each scrape).",
    registry=QUEUE_REGISTRY,
)

OTHER_REASON = "other"


def count_escalation(reason: str, known_reasons: Iterable[str]) -> None:
    """One conversation newly queued; free-form reasons are folded to ``other``.

    Label values are kept to a known set so a caller cannot create unbounded series.
    """
    ESCALATIONS.labels(reason=reason if reason in set(known_reasons) else OTHER_REASON).inc()


def count_message(direction: str, sender: str) -> None:
    """One chat message in (``customer``) or out (``bot``, ``csr``)."""
    MESSAGES.labels(direction=direction, sender=sender).inc()


def count_http_status(server: str, status: int) -> None:
    """Count an HTTP answer of ``server`` if it is an error (status 400 or more)."""
    if status >= 400:
        HTTP_ERRORS.labels(server=server, status=str(status)).inc()


def count_redis_error(server: str, exc: BaseException) -> bool:
    """Count ``exc`` if it is a Redis failure; whether it was one."""
    if not isinstance(exc, RedisError):
        return False
    REDIS_ERRORS.labels(server=server, error=type(exc).__name__).inc()
    return True


def count_redis_timeout(server: str) -> None:
    """A Redis command that did not answer in the time its caller allowed."""
    REDIS_ERRORS.labels(server=server, error="TimeoutError").inc()


def exposition(*registries: CollectorRegistry) -> Tuple[bytes, str]:
    """The body and content type of a scrape: this process's metrics plus ``registries``.

    Prometheus' text format 0.0.4, which every Prometheus reads (all names here are plain
    ASCII) and which allows metric families one after the other (OpenMetrics would not: it
    ends with ``# EOF``).
    """
    body = b"".join(generate_latest(registry) for registry in (REGISTRY, *registries))
    return body, CONTENT_TYPE_PLAIN_0_0_4
