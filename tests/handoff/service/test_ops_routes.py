"""The handoff service's operations endpoints for real: /ready and the Prometheus scrape."""

from __future__ import annotations

import logging

import aiohttp
import pytest
import pytest_asyncio

from handoff.core import log_format
from handoff.core.auth import Auth, Identity
from handoff.core.csr_desk import HandoffService
from handoff.core.outbox import Outbox
from handoff.core.rasa_client import NullRasa
from handoff.core.store import HandoffStore
from tests.support.auth import SECRET
from tests.support.handoff_api import Api, running, service_config
from tests.support.log_handlers import formatters_restored
from tests.support.prometheus import samples, value
from tests.support.redis_server import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(redis_url):
    async with running(service_config(redis_url)) as served:
        yield served


async def scrape(api: Api) -> str:
    async with api.session.get(api.base + "/prometheus") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await resp.text()


async def test_ready_when_redis_answers(api):
    assert await api.call("GET", "/ready") == (200, {"status": "ready", "checks": {"redis": "ok"}})


async def test_the_scrape_parses_and_has_every_metric_family(api):
    text = await scrape(api)
    found = samples(text)
    assert "storefront_queue_length" in found
    assert "process_cpu_seconds_total" in found  # prometheus-client's process collector
    # Histograms and labelled counters are described even before their first sample.
    for name in (
        "storefront_messages_total",
        "storefront_reply_latency_seconds",
        "storefront_escalations_total",
        "storefront_http_errors_total",
        "storefront_redis_errors_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text


async def test_queue_length_escalations_and_csr_messages(api, redis_client):
    before = await scrape(api)
    store = HandoffStore(redis_client, priorities={"complaint": "urgent"})
    await store.escalate("c1", "complaint")
    await store.escalate("c2", "something-new")
    await store.escalate("c2", "something-new")  # already queued: bumped, not counted again
    after = await scrape(api)
    assert value(after, "storefront_queue_length") == 2
    assert value(after, "storefront_escalations_total", {"reason": "complaint"}) == (
        value(before, "storefront_escalations_total", {"reason": "complaint"}) + 1
    )
    assert value(after, "storefront_escalations_total", {"reason": "other"}) == (
        value(before, "storefront_escalations_total", {"reason": "other"}) + 1
    )

    # A CSR message to the customer, through the same desk the service uses.
    alice = Identity("alice", "csr", "Alice")
    desk = HandoffService(store, Outbox(redis_client), NullRasa(), Auth(redis_client, SECRET))
    await desk.claim("c1", alice)
    await desk.send_message("c1", alice, "Hello, I am Alice")
    sent = await scrape(api)
    labels = {"direction": "out", "sender": "csr"}
    assert value(sent, "storefront_messages_total", labels) == (
        value(before, "storefront_messages_total", labels) + 1
    )


async def test_error_answers_are_counted_by_status(api):
    before = await scrape(api)
    assert (await api.call("GET", "/api/queue"))[0] == 401
    assert (await api.call("GET", "/no/such/page"))[0] == 404
    after = await scrape(api)
    for status in ("401", "404"):
        labels = {"server": "handoff", "status": status}
        assert value(after, "storefront_http_errors_total", labels) == (
            value(before, "storefront_http_errors_total", labels) + 1
        )


async def test_redis_down_is_not_ready_and_counted():
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    token = Auth(None, SECRET).issue_token(Identity("alice", "csr", "Alice"))
    async with running(service_config(dead)) as (_, base):
        async with aiohttp.ClientSession() as session:
            api = Api(base, session)
            before = await scrape(api)  # still answers: Redis errors are among the figures
            assert await api.call("GET", "/ready") == (
                503,
                {"status": "not_ready", "checks": {"redis": "down"}},
            )
            assert (await api.call("GET", "/api/queue", token=token))[0] == 503
            after = await scrape(api)
    labels = {"server": "handoff", "error": "ConnectionError"}
    # The readiness check, the request and the scrape's own queue read.
    assert value(after, "storefront_redis_errors_total", labels) >= (
        value(before, "storefront_redis_errors_total", labels) + 2
    )
    assert value(after, "storefront_http_errors_total", {"server": "handoff", "status": "503"}) > 0


async def test_json_logs_when_configured(redis_url):
    # Applied to every handler once the server starts (Sanic's included).
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    try:
        with formatters_restored():
            async with running(service_config(redis_url, log_format="json")):
                assert isinstance(handler.formatter, log_format.JsonFormatter)
                sanic_access = logging.getLogger("sanic.access").handlers[0]
                assert isinstance(sanic_access.formatter, log_format.JsonFormatter)
    finally:
        logging.getLogger().removeHandler(handler)
