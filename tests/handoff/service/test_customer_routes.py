"""The customer panel and the admins' export and erasure, over real sockets.

A real Sanic server and Redis; the orders come from the real SQLite demo store, or from the
HTTP adapter pointed at a port where nothing listens (the order system is down).
"""

from __future__ import annotations

import pytest
import pytest_asyncio

from actions.orders.demo_store import seed_demo_store
from actions.orders.http_client import HttpOrderSystem
from actions.orders.sqlite_store import SQLiteOrderSystem
from handoff.core.customers import CustomerProfiles
from handoff.core.store import HandoffStore
from tests.support.auth import SECRET
from tests.support.handoff_api import error_code, running, service_config
from tests.support.orders import TODAY
from tests.support.redis_server import free_port
from tests.support.trackers import save_tracker, user

pytestmark = pytest.mark.asyncio(loop_scope="module")

JANE = "jane.doe@example.com"  # owns A1001 and A1002 in the demo store


@pytest.fixture(scope="module")
def store_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("orders") / "store.db"
    seed_demo_store(db, TODAY)
    return db


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(redis_url, store_db, tmp_path_factory):
    orders = SQLiteOrderSystem(store_db, today=lambda: TODAY)
    config = service_config(redis_url, max_request_bytes=4096)
    async with running(config, order_system=orders) as served:
        yield served


@pytest.fixture
def customers(redis_client):
    return CustomerProfiles(redis_client, SECRET)


async def verified_chat(redis, customers, conv_id, *orders):
    """A customer proved an order in a chat (as the action server links it) and escalated."""
    await save_tracker(redis, conv_id, [user("where is my order", "order_status", 0.9, 1e9)])
    await customers.link_conversation(conv_id, JANE, order_ids=list(orders))
    await HandoffStore(redis).escalate(conv_id, "request_human")


async def test_an_unverified_conversation_has_no_customer(api, tokens, redis_client):
    await HandoffStore(redis_client).escalate("anon", "request_human")
    status, body = await api.call("GET", "/api/conversations/anon/customer", tokens["alice"])
    assert status == 200
    assert body["verified"] is False and body["customer"] is None
    assert body["conversations"] == body["orders"] == body["tickets"] == []


async def test_the_panel_shows_history_and_live_orders(api, tokens, redis_client, customers):
    await verified_chat(redis_client, customers, "earlier", "A1002")
    await verified_chat(redis_client, customers, "now", "A1001")
    status, body = await api.call("GET", "/api/conversations/now/customer", tokens["alice"])
    assert status == 200, body
    assert body["verified"] is True and body["customer"] == customers.key_for(JANE)
    assert [c["id"] for c in body["conversations"]] == ["now", "earlier"]
    assert body["conversations"][0]["state"] == "queued"
    assert body["order_ids"] == ["A1001", "A1002"]
    assert [o["order_id"] for o in body["orders"]] == ["A1001", "A1002"]
    assert body["orders"][0]["status"] and "orders_error" not in body


async def test_an_order_system_that_is_down_costs_only_the_orders(
    api, tokens, service, redis_client, customers
):
    app = service[0]
    working = app.ctx.order_system
    app.ctx.order_system = HttpOrderSystem(f"http://127.0.0.1:{free_port()}", timeout_seconds=1.0)
    try:
        await verified_chat(redis_client, customers, "c1", "A1001")
        status, body = await api.call("GET", "/api/conversations/c1/customer", tokens["alice"])
    finally:
        app.ctx.order_system = working
    assert status == 200
    assert body["verified"] is True and body["order_ids"] == ["A1001"]
    assert body["orders"] == [] and "could not be reached" in body["orders_error"]


async def test_the_panel_needs_a_token_and_a_valid_id(api, tokens):
    status, body = await api.call("GET", "/api/conversations/c1/customer")
    assert status == 401 and error_code(body) == "unauthorized"
    status, body = await api.call("GET", "/api/conversations/a%20b/customer", tokens["alice"])
    assert status == 400 and error_code(body) == "invalid_input"


async def test_export_then_erase_one_customer(api, tokens, redis_client, customers):
    await verified_chat(redis_client, customers, "jane-1", "A1001")
    other = CustomerProfiles(redis_client, SECRET)
    await save_tracker(redis_client, "john-1", [user("hi", "greet", 0.9, 1e9)])
    await other.link_conversation("john-1", "john.roe@example.com")

    status, data = await api.call(
        "GET", "/api/admin/customers/export?email=Jane.Doe@example.com", tokens["root"]
    )
    assert status == 200, data
    assert [c["id"] for c in data["conversations"]] == ["jane-1"]
    assert data["trackers"][0]["events"][0]["text"] == "where is my order"
    assert data["order_ids"] == ["A1001"]

    status, body = await api.call(
        "POST", "/api/admin/customers/erase", tokens["root"], body={"email": JANE}
    )
    assert status == 200, body
    assert body["erased"]["conversations"] == 1 and body["erased"]["trackers"] == 1
    status, body = await api.call(
        "POST", "/api/admin/customers/erase", tokens["root"], body={"email": JANE}
    )
    assert status == 200 and body["erased"]["conversations"] == 0

    status, data = await api.call(
        "GET", f"/api/admin/customers/export?email={JANE}", tokens["root"]
    )
    assert data["conversations"] == data["trackers"] == data["order_ids"] == []
    assert await redis_client.exists("rasa:tracker:john-1")  # nobody else's data went
    status, body = await api.call("GET", "/api/conversations/jane-1/customer", tokens["alice"])
    assert body["verified"] is False


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/api/admin/customers/export?email=jane@example.com", None),
        ("POST", "/api/admin/customers/erase", {"email": "jane@example.com"}),
    ],
)
async def test_export_and_erase_are_for_admins(api, tokens, method, path, body):
    status, answer = await api.call(method, path, body=body)
    assert status == 401
    status, answer = await api.call(method, path, tokens["alice"], body=body)
    assert status == 403 and error_code(answer) == "forbidden"


async def test_export_and_erase_need_an_address(api, tokens):
    for query in ("", "?email=", "?email=jane"):
        status, body = await api.call("GET", f"/api/admin/customers/export{query}", tokens["root"])
        assert status == 400, (query, body)
    for payload in ({}, {"email": 3}, {"email": "nobody"}):
        status, body = await api.call(
            "POST", "/api/admin/customers/erase", tokens["root"], body=payload
        )
        assert status == 400, (payload, body)
    status, body = await api.call("POST", "/api/admin/customers/erase", tokens["root"], data=b"[1]")
    assert status == 400 and error_code(body) == "invalid_input"
