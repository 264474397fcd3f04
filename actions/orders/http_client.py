"""An order system reached over JSON/HTTP, as described in docs/order-api.md.

Every failure the bot cannot do anything about (timeout, refused connection,
5xx, a body that is not the contract's JSON, a rejected API key) becomes
:class:`OrderSystemUnavailable`, so actions answer one honest "I can't reach
our order system" and the handoff work can escalate on it.

Each call uses its own short-lived ``aiohttp.ClientSession``. A chat turn
makes one or two calls, so pooling would save little, and a per-call session
is never tied to an event loop that has since closed (the action server and
the tests each run their own) and leaves nothing to close.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence
from urllib.parse import quote

import aiohttp

from actions.orders import codec
from actions.orders.adapter import (
    OrderNotFound,
    OrderSystem,
    OrderSystemUnavailable,
    RequestRejected,
)
from actions.orders.records import Order, ReturnRecord

# Statuses that mean "the store refused this request"; it is not down.
_REJECTED_STATUSES = (400, 409, 422)


class HttpOrderSystem(OrderSystem):
    """:class:`OrderSystem` over the order API contract.

    Args:
        base_url: Where the API lives, e.g. ``https://shop.example.com/api/bot``;
            paths such as ``/orders/A1001`` are appended to it.
        timeout_seconds: The most one call may take, connecting included.
        api_key: Sent as ``Authorization: Bearer <api_key>`` when set.
    """

    def __init__(
        self, base_url: str, timeout_seconds: float = 5.0, api_key: Optional[str] = None
    ) -> None:
        if not base_url:
            raise ValueError("HttpOrderSystem needs a base_url such as http://127.0.0.1:8800")
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = float(timeout_seconds)
        self._api_key = api_key or None

    def __repr__(self) -> str:
        # Never show the API key: reprs end up in logs.
        return f"HttpOrderSystem({self.base_url!r}, timeout_seconds={self.timeout_seconds})"

    async def get_order(self, order_id: str) -> Optional[Order]:
        try:
            body = await self._call("GET", _order_path(order_id))
        except OrderNotFound:
            return None
        return _decode(codec.order_from_json, body)

    async def find_orders_by_email(self, email: str) -> List[Order]:
        body = await self._call("GET", "/orders", params={"email": codec.normalise_email(email)})
        return _decode(codec.orders_from_json, body)

    async def create_return(
        self,
        order_id: str,
        skus: Sequence[str],
        reason: str,
        condition: str,
        *,
        return_fee_cents: int = 0,
    ) -> ReturnRecord:
        request = codec.return_request_to_json(skus, reason, condition, return_fee_cents)
        body = await self._call("POST", _order_path(order_id, "returns"), json_body=request)
        return _decode(codec.return_from_json, body)

    async def get_returns(self, order_id: str) -> List[ReturnRecord]:
        body = await self._call("GET", _order_path(order_id, "returns"))
        return _decode(codec.returns_from_json, body)

    async def cancel_order(self, order_id: str) -> Order:
        body = await self._call("POST", _order_path(order_id, "cancel"))
        return _decode(codec.order_from_json, body)

    async def _call(
        self,
        method: str,
        path: str,
        params: Optional[Mapping[str, str]] = None,
        json_body: Optional[Dict[str, Any]] = None,
    ) -> Any:
        """Send one request; return the JSON of a 2xx answer or raise the matching error."""
        url = self.base_url + path
        timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
        try:
            async with aiohttp.ClientSession(timeout=timeout, headers=self._headers()) as session:
                async with session.request(method, url, params=params, json=json_body) as response:
                    status, text = response.status, await response.text()
        except asyncio.TimeoutError as exc:
            raise OrderSystemUnavailable(
                f"{method} {url} took longer than {self.timeout_seconds:g} seconds"
            ) from exc
        except (aiohttp.ClientError, OSError, UnicodeDecodeError) as exc:
            raise OrderSystemUnavailable(f"{method} {url} failed: {exc!r}") from exc
        return _answer(f"{method} {url}", status, text)

    def _headers(self) -> Dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers


def _order_path(order_id: str, *rest: str) -> str:
    # Normalised first: '#A1001' would otherwise be cut off as a URL fragment.
    canonical = codec.normalise_order_id(order_id)
    if not canonical:
        raise OrderNotFound("An empty order number matches no order.")
    return "/".join(("/orders", quote(canonical, safe=""), *rest))


def _answer(request: str, status: int, text: str) -> Any:
    """The JSON body of a successful answer; an error matching the status otherwise."""
    body = _parse(request, status, text)
    if 200 <= status < 300:
        if body is None:
            raise OrderSystemUnavailable(f"{request} answered {status} without a JSON body")
        return body
    error = codec.error_from_json(body)
    message = error[1] if error and error[1] else f"HTTP {status}"
    if status == 404 and error and error[0] == codec.ORDER_NOT_FOUND:
        raise OrderNotFound(message)
    if status in _REJECTED_STATUSES:
        raise RequestRejected(message)
    if status in (401, 403):
        raise OrderSystemUnavailable(
            f"{request} was refused ({status}): check the API key. {message}"
        )
    # 5xx, and a 404 that is not "order_not_found" (most likely a wrong base URL).
    raise OrderSystemUnavailable(f"{request} answered {status}: {message}")


def _parse(request: str, status: int, text: str) -> Any:
    """Decoded JSON; None for an error answer that is not JSON (a proxy's HTML page, say)."""
    try:
        return json.loads(text)
    except ValueError:
        if 200 <= status < 300:
            raise OrderSystemUnavailable(
                f"{request} answered {status} with malformed JSON"
            ) from None
        return None


def _decode(decoder: Any, body: Any) -> Any:
    try:
        return decoder(body)
    except codec.CodecError as exc:
        raise OrderSystemUnavailable(
            f"the order system answered outside the contract: {exc}"
        ) from exc
