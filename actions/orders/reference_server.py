"""The order API contract (docs/order-api.md) served on top of any OrderSystem.

A reference for stores writing their own endpoint, the server the HTTP
adapter's tests run against, and a way to put the SQLite demo store behind
HTTP::

    python -m actions.orders.reference_server --db var/demo_store.db --port 8800
"""

from __future__ import annotations

import argparse
import datetime as dt
import hmac
import logging
import os
from pathlib import Path
from typing import Awaitable, Callable, Optional, Sequence

from aiohttp import web

from actions.orders import codec
from actions.orders.adapter import (
    OrderNotFound,
    OrderSystem,
    OrderSystemUnavailable,
    RequestRejected,
)

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(order_system: OrderSystem, api_key: Optional[str] = None) -> web.Application:
    """An aiohttp application serving the contract from ``order_system``.

    Args:
        order_system: Where orders really live (e.g. the SQLite store).
        api_key: When set, every request must carry ``Authorization: Bearer <api_key>``.
    """
    middlewares = [_errors_as_json] + ([_bearer_auth(api_key)] if api_key else [])
    app = web.Application(middlewares=middlewares)
    api = _OrderApi(order_system)
    app.add_routes(
        [
            web.get("/orders", api.find_orders),
            web.get("/orders/{order_id}", api.get_order),
            web.post("/orders/{order_id}/returns", api.create_return),
            web.get("/orders/{order_id}/returns", api.get_returns),
            web.post("/orders/{order_id}/cancel", api.cancel_order),
        ]
    )
    return app


class _OrderApi:
    """One handler per endpoint; errors are left to the middleware to translate."""

    def __init__(self, orders: OrderSystem) -> None:
        self._orders = orders

    async def get_order(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        order = await self._orders.get_order(order_id)
        if order is None:
            raise OrderNotFound(f"There is no order {codec.normalise_order_id(order_id)}.")
        return web.json_response(codec.order_to_json(order))

    async def find_orders(self, request: web.Request) -> web.Response:
        email = request.query.get("email", "").strip()
        if not email:
            raise codec.CodecError("the 'email' query parameter is required")
        orders = await self._orders.find_orders_by_email(email)
        return web.json_response(codec.orders_to_json(orders))

    async def create_return(self, request: web.Request) -> web.Response:
        skus, reason, condition, fee = codec.return_request_from_json(await _json_body(request))
        order_id = request.match_info["order_id"]
        record = await self._orders.create_return(
            order_id, skus, reason, condition, return_fee_cents=fee
        )
        return web.json_response(codec.return_to_json(record), status=201)

    async def get_returns(self, request: web.Request) -> web.Response:
        records = await self._orders.get_returns(request.match_info["order_id"])
        return web.json_response(codec.returns_to_json(records))

    async def cancel_order(self, request: web.Request) -> web.Response:
        order = await self._orders.cancel_order(request.match_info["order_id"])
        return web.json_response(codec.order_to_json(order))


async def _json_body(request: web.Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(reason="the request body is not valid JSON") from None


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as the contract's ``{"error": {"code", "message"}}`` body."""
    try:
        return await handler(request)
    except OrderNotFound as exc:
        return _error(404, codec.ORDER_NOT_FOUND, str(exc))
    except RequestRejected as exc:
        return _error(409, codec.REQUEST_REJECTED, str(exc))
    except codec.CodecError as exc:
        return _error(422, codec.INVALID_REQUEST, str(exc))
    except OrderSystemUnavailable as exc:
        logger.warning("order system unavailable: %s", exc)
        return _error(503, codec.UNAVAILABLE, "The order system is temporarily unavailable.")
    except web.HTTPException as exc:
        # Unknown paths and wrong methods; their code is not order_not_found on purpose.
        code = codec.INVALID_REQUEST if exc.status == 400 else exc.reason.lower().replace(" ", "_")
        return _error(exc.status, code, exc.reason)
    except Exception:  # noqa: BLE001 - the contract promises JSON even for our bugs
        logger.exception("unexpected error serving %s %s", request.method, request.path)
        return _error(500, codec.INTERNAL_ERROR, "Something went wrong on our side.")


def _bearer_auth(api_key: str) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    expected = f"Bearer {api_key}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        # Constant-time comparison: the key must not leak through response timing.
        if not hmac.compare_digest(given, expected):
            message = "A valid 'Authorization: Bearer <key>' header is required."
            return _error(401, codec.UNAUTHORIZED, message)
        return await handler(request)

    return check


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(codec.error_to_json(code, message), status=status)


# --- command line --------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m actions.orders.reference_server --db PATH --port N``."""
    from actions.orders.demo_store import seed_demo_store
    from actions.orders.sqlite_store import SQLiteOrderSystem

    parser = argparse.ArgumentParser(description="Serve the order API from a SQLite store.")
    parser.add_argument("--db", required=True, type=Path, help="SQLite order database")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument(
        "--api-key",
        default=os.environ.get("ORDER_API_KEY") or None,
        help="require this bearer token (default: $ORDER_API_KEY, else none)",
    )
    parser.add_argument(
        "--seed", action="store_true", help="seed the demo store first if it has no orders"
    )
    args = parser.parse_args(argv)
    if args.seed:
        seed_demo_store(args.db, dt.date.today())
    if not args.db.exists():
        parser.error(
            f"{args.db} does not exist; seed it first (--seed, or "
            "python -m actions.orders.demo_store)"
        )
    logging.basicConfig(level=logging.INFO)
    app = create_app(SQLiteOrderSystem(args.db), api_key=args.api_key)
    web.run_app(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
