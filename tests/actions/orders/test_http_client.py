"""The HTTP adapter against real sockets on 127.0.0.1.

The behaviour it shares with the SQLite store is tested once for both in
test_sqlite_store.py (the ``orders`` fixture). Here: how failures of a real
server map to the adapter's errors, the wire format of the reference
server, the JSON codec, and choosing an adapter from configuration.
"""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
from aiohttp import web

from actions.orders import codec
from actions.orders.adapter import OrderNotFound, OrderSystemUnavailable, RequestRejected
from actions.orders.demo_store import build_demo_store, fixed_demo_orders
from actions.orders.factory import order_system_from_config
from actions.orders.http_client import HttpOrderSystem
from actions.orders.reference_server import create_app
from actions.orders.sqlite_store import SQLiteOrderSystem
from tests.support.orders import TODAY


def _a1001_json():
    """A valid order body, for stub servers to answer with (or to damage)."""
    orders, _ = fixed_demo_orders(TODAY)
    return codec.order_to_json(orders[0])


def _stub(handler, path="/orders/{order_id}", method="GET"):
    app = web.Application()
    app.router.add_route(method, path, handler)
    return app


# --- failures of the server -------------------------------------------------------


async def test_nothing_listening_is_unavailable():
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    orders = HttpOrderSystem(f"http://127.0.0.1:{port}", timeout_seconds=2)
    with pytest.raises(OrderSystemUnavailable):
        await orders.get_order("A1001")


async def test_a_server_slower_than_the_timeout_is_unavailable(serve):
    async def slow(request):
        await asyncio.sleep(10)  # the slowness under test, not a wait: the client gives up first
        return web.json_response(_a1001_json())

    orders = HttpOrderSystem(await serve(_stub(slow)), timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(OrderSystemUnavailable, match="0.3 seconds"):
        await orders.get_order("A1001")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_is_unavailable(serve, status):
    async def failing(request):
        return web.json_response(codec.error_to_json("internal_error", "boom"), status=status)

    orders = HttpOrderSystem(await serve(_stub(failing)))
    with pytest.raises(OrderSystemUnavailable, match=str(status)):
        await orders.get_order("A1001")


async def test_a_server_error_as_an_html_page_is_unavailable(serve):
    async def proxy_page(request):
        return web.Response(text="<html>Bad gateway</html>", status=502, content_type="text/html")

    with pytest.raises(OrderSystemUnavailable):
        await HttpOrderSystem(await serve(_stub(proxy_page))).get_order("A1001")


@pytest.mark.parametrize("body", ['{"order_id": "A1001", ', "<html>ok</html>", ""])
async def test_invalid_json_is_unavailable(serve, body):
    async def broken(request):
        return web.Response(text=body, content_type="application/json")

    with pytest.raises(OrderSystemUnavailable, match="malformed JSON"):
        await HttpOrderSystem(await serve(_stub(broken))).get_order("A1001")


@pytest.mark.parametrize(
    "damage",
    [
        lambda body: body.pop("status"),
        lambda body: body.update(status="lost_at_sea"),
        lambda body: body.update(placed_on="23/11/2026"),
        lambda body: body["items"][0].update(unit_price_cents="89.00"),
        lambda body: body.update(items="HP-THR-02"),
    ],
)
async def test_json_outside_the_contract_is_unavailable(serve, damage):
    body = _a1001_json()
    damage(body)

    async def off_contract(request):
        return web.json_response(body)

    with pytest.raises(OrderSystemUnavailable, match="outside the contract"):
        await HttpOrderSystem(await serve(_stub(off_contract))).get_order("A1001")


async def test_a_404_that_is_not_order_not_found_is_a_wrong_url_not_a_missing_order(
    serve, sqlite_orders
):
    base_url = await serve(create_app(sqlite_orders))
    orders = HttpOrderSystem(base_url + "/api/v2")  # the reference server has no such prefix
    with pytest.raises(OrderSystemUnavailable, match="404"):
        await orders.get_order("A1001")


async def test_a_rejection_carries_the_servers_message(serve):
    async def refuse(request):
        assert await request.json() == {
            "skus": ["HP-THR-02"],
            "reason": "damaged",
            "condition": "used",
            "return_fee_cents": 0,
        }
        error = codec.error_to_json("invalid_request", "Used items are not accepted.")
        return web.json_response(error, status=422)

    orders = HttpOrderSystem(await serve(_stub(refuse, "/orders/{order_id}/returns", "POST")))
    with pytest.raises(RequestRejected, match="^Used items are not accepted.$"):
        await orders.create_return("A1001", ["HP-THR-02"], "damaged", "used")


async def test_the_return_fee_is_sent_in_the_request_body(serve):
    async def accept(request):
        body = await request.json()
        assert body["return_fee_cents"] == 495
        record = {
            "return_id": "R6000",
            "order_id": "A1001",
            "skus": body["skus"],
            "reason": body["reason"],
            "condition": body["condition"],
            "status": "requested",
            "created_on": "2026-11-23",
            "refund_cents": 8405,
            "refunded_on": None,
            "notes": [],
        }
        return web.json_response(record, status=201)

    orders = HttpOrderSystem(await serve(_stub(accept, "/orders/{order_id}/returns", "POST")))
    record = await orders.create_return(
        "A1001", ["HP-THR-02"], "doesnt_fit", "unused", return_fee_cents=495
    )
    assert record.refund_cents == 8405


async def test_a_negative_return_fee_is_refused_by_the_server_over_http(serve, sqlite_orders):
    base_url = await serve(create_app(sqlite_orders))
    status, body = await _raw(
        base_url,
        "POST",
        "/orders/A1001/returns",
        json={
            "skus": ["HP-THR-02"],
            "reason": "doesnt_fit",
            "condition": "unused",
            "return_fee_cents": -495,
        },
    )
    assert (status, body["error"]["code"]) == (422, "invalid_request")
    assert "return_fee_cents" in body["error"]["message"]
    with pytest.raises(RequestRejected, match="return_fee_cents"):
        await HttpOrderSystem(base_url).create_return(
            "A1001", ["HP-THR-02"], "doesnt_fit", "unused", return_fee_cents=-495
        )
    assert await sqlite_orders.get_returns("A1001") == []


def test_the_return_request_codec_defaults_the_fee_to_zero():
    body = {"skus": ["HP-THR-02"], "reason": "damaged", "condition": "defective"}
    assert codec.return_request_from_json(body)[3] == 0
    assert codec.return_request_from_json({**body, "return_fee_cents": None})[3] == 0
    sent = codec.return_request_to_json(["A"], "r", "c", 495)
    assert codec.return_request_from_json(sent)[3] == 495


async def test_a_write_to_a_missing_order_is_not_found(serve):
    async def missing(request):
        return web.json_response(
            codec.error_to_json("order_not_found", "No such order."), status=404
        )

    orders = HttpOrderSystem(await serve(_stub(missing, "/orders/{order_id}/cancel", "POST")))
    with pytest.raises(OrderNotFound):
        await orders.cancel_order("A1001")


async def test_a_store_whose_backend_is_down_answers_503_and_the_bot_sees_unavailable(
    serve, tmp_path
):
    base_url = await serve(create_app(SQLiteOrderSystem(tmp_path / "absent.db")))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/orders/A1001") as response:
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "unavailable"
    with pytest.raises(OrderSystemUnavailable):
        await HttpOrderSystem(base_url).get_order("A1001")


# --- authentication ---------------------------------------------------------------


async def test_the_api_key_is_sent_as_a_bearer_token(serve, sqlite_orders):
    base_url = await serve(create_app(sqlite_orders, api_key="s3cret"))
    order = await HttpOrderSystem(base_url, api_key="s3cret").get_order("A1001")
    assert order.order_id == "A1001"


@pytest.mark.parametrize("api_key", [None, "wrong"])
async def test_a_missing_or_wrong_api_key_is_unavailable(serve, sqlite_orders, api_key):
    base_url = await serve(create_app(sqlite_orders, api_key="s3cret"))
    with pytest.raises(OrderSystemUnavailable, match="API key"):
        await HttpOrderSystem(base_url, api_key=api_key).get_order("A1001")


def test_the_api_key_never_shows_in_the_repr():
    assert "s3cret" not in repr(HttpOrderSystem("http://127.0.0.1:1", api_key="s3cret"))


# --- the reference server's wire format ---------------------------------------------


async def _raw(base_url, method, path, **kwargs):
    async with aiohttp.ClientSession() as session:
        async with session.request(method, base_url + path, **kwargs) as response:
            return response.status, await response.json()


async def test_the_reference_server_speaks_the_documented_json(serve, sqlite_orders):
    base_url = await serve(create_app(sqlite_orders))
    status, order = await _raw(base_url, "GET", "/orders/A1001")
    assert status == 200
    assert order["placed_on"] == "2026-11-13" and order["total_cents"] == 11900
    assert order["items"][1] == {
        "sku": "HP-NAP-90",
        "name": "Linen Napkins, Set of 4 (Clearance)",
        "quantity": 2,
        "unit_price_cents": 1500,
        "final_sale": True,
    }
    status, listing = await _raw(
        base_url, "GET", "/orders", params={"email": "JANE.DOE@example.com"}
    )
    assert status == 200 and len(listing["orders"]) == 5
    status, created = await _raw(
        base_url,
        "POST",
        "/orders/A1001/returns",
        json={"skus": ["HP-THR-02"], "reason": "damaged", "condition": "defective"},
    )
    assert status == 201 and created["status"] == "requested" and created["refund_cents"] == 8900
    status, returns = await _raw(base_url, "GET", "/orders/A1001/returns")
    assert status == 200 and returns["returns"] == [created]
    status, with_fee = await _raw(
        base_url,
        "POST",
        "/orders/A1009/returns",
        json={
            "skus": ["AP-SOC-14"],
            "reason": "doesnt_fit",
            "condition": "unused",
            "return_fee_cents": 495,
        },
    )
    socks = next(i for i in (await sqlite_orders.get_order("A1009")).items if i.sku == "AP-SOC-14")
    assert status == 201 and with_fee["refund_cents"] == max(socks.total_cents - 495, 0)
    status, cancelled = await _raw(base_url, "POST", "/orders/A1003/cancel")
    assert status == 200 and cancelled["status"] == "cancelled"


@pytest.mark.parametrize(
    "method, path, kwargs, status, code",
    [
        ("GET", "/orders/A9999", {}, 404, "order_not_found"),
        ("GET", "/orders/A9999/returns", {}, 404, "order_not_found"),
        ("POST", "/orders/A1002/cancel", {}, 409, "request_rejected"),
        (
            "POST",
            "/orders/A1002/returns",
            {"json": {"skus": ["AP-SWT-10"], "reason": "x"}},
            409,
            "request_rejected",
        ),
        ("POST", "/orders/A1001/returns", {"json": {"reason": "x"}}, 422, "invalid_request"),
        (
            "POST",
            "/orders/A1001/returns",
            {"json": {"skus": [], "reason": "x"}},
            422,
            "invalid_request",
        ),
        ("POST", "/orders/A1001/returns", {"data": "{not json"}, 400, "invalid_request"),
        (
            "POST",
            "/orders/A1001/returns",
            {"json": {"skus": ["HP-THR-02"], "reason": "x", "return_fee_cents": -1}},
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/orders/A1001/returns",
            {"json": {"skus": ["HP-THR-02"], "reason": "x", "return_fee_cents": 4.95}},
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/orders/A1001/returns",
            {"json": {"skus": ["HP-THR-02"], "reason": "x", "return_fee_cents": "495"}},
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/orders/A1001/returns",
            {"json": {"skus": ["HP-THR-02"], "reason": "x", "return_fee_cents": True}},
            422,
            "invalid_request",
        ),
        ("GET", "/orders", {}, 422, "invalid_request"),
        ("GET", "/nowhere", {}, 404, "not_found"),
        ("DELETE", "/orders/A1001", {}, 405, "method_not_allowed"),
    ],
)
async def test_the_reference_server_answers_errors_as_json(
    serve, sqlite_orders, method, path, kwargs, status, code
):
    base_url = await serve(create_app(sqlite_orders))
    got_status, body = await _raw(base_url, method, path, **kwargs)
    assert (got_status, body["error"]["code"]) == (status, code)
    assert body["error"]["message"]


# --- the codec ------------------------------------------------------------------------


def test_every_demo_order_and_return_survives_the_codec():
    orders, returns = build_demo_store(TODAY)
    assert [codec.order_from_json(codec.order_to_json(o)) for o in orders] == orders
    assert [codec.return_from_json(codec.return_to_json(r)) for r in returns] == returns
    assert codec.orders_from_json(codec.orders_to_json(orders)) == orders


def test_the_codec_ignores_unknown_fields_and_defaults_optional_ones():
    body = _a1001_json()
    body.update(gift_message="Happy birthday!", carrier=None)
    del body["tracking_number"], body["items"][0]["final_sale"]
    order = codec.order_from_json(body)
    assert order.carrier is None and order.tracking_number is None
    assert order.items[0].final_sale is False


def test_the_codec_rejects_a_boolean_as_money():
    body = _a1001_json()
    body["items"][0]["unit_price_cents"] = True
    with pytest.raises(codec.CodecError, match="unit_price_cents"):
        codec.order_from_json(body)


# --- choosing an adapter from configuration ---------------------------------------------


def test_the_factory_builds_a_sqlite_store(tmp_path):
    orders = order_system_from_config(
        {"type": "sqlite", "path": str(tmp_path / "s.db"), "url": "ignored"}
    )
    assert isinstance(orders, SQLiteOrderSystem) and orders.path == tmp_path / "s.db"
    assert isinstance(
        order_system_from_config({"path": "x.db"}), SQLiteOrderSystem
    )  # sqlite by default


def test_the_factory_builds_an_http_client_from_string_values():
    orders = order_system_from_config(
        {"type": "HTTP", "url": "http://127.0.0.1:8800/", "timeout_seconds": "2.5", "api_key": "k"}
    )
    assert isinstance(orders, HttpOrderSystem)
    assert (orders.base_url, orders.timeout_seconds) == ("http://127.0.0.1:8800", 2.5)


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"type": "mongodb"}, "valid types are: http, sqlite"),
        ({"type": "http"}, "needs a 'url'"),
        ({"type": "http", "url": "http://x", "timeout_seconds": "soon"}, "must be a number"),
        ({"type": "http", "url": "http://x", "timeout_seconds": 0}, "must be positive"),
        ({"type": "sqlite", "path": ""}, "needs a 'path'"),
    ],
)
def test_the_factory_explains_a_bad_configuration(cfg, message):
    with pytest.raises(ValueError, match=message):
        order_system_from_config(cfg)
