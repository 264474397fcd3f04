"""The JSON of the order API contract (docs/order-api.md), in one place.

Both sides of the contract use these functions: the HTTP adapter decodes
what a store sends, and the reference server encodes what it answers, so the
two cannot drift apart. Decoding is strict about the fields the bot relies
on and ignores fields it does not know, so stores can send more.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from actions.orders.records import Order, OrderItem, OrderStatus, ReturnRecord, ReturnStatus

Json = Dict[str, Any]

_ORDER_ID_NOISE = re.compile(r"[\s#\-]")


class CodecError(ValueError):
    """A payload does not follow the contract (missing field, wrong type, bad date...)."""


def normalise_order_id(raw: str) -> str:
    """'#a-1042 ' -> 'A1042': the one spelling of an order id on the wire and in storage.

    Customers type ids in many shapes; actions use this same function so that
    ids they compare and ids the order system returns always agree.
    """
    return _ORDER_ID_NOISE.sub("", str(raw)).upper()


def normalise_email(raw: str) -> str:
    """Emails are compared without case or surrounding spaces."""
    return str(raw).strip().lower()


# --- orders ------------------------------------------------------------------


def order_to_json(order: Order) -> Json:
    """An order as the contract spells it (``total_cents`` is informative only)."""
    return {
        "order_id": order.order_id,
        "customer_name": order.customer_name,
        "email": order.email,
        "postcode": order.postcode,
        "status": order.status.value,
        "placed_on": _date_out(order.placed_on),
        "shipped_on": _date_out(order.shipped_on),
        "delivered_on": _date_out(order.delivered_on),
        "expected_delivery": _date_out(order.expected_delivery),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "items": [_item_to_json(item) for item in order.items],
        "total_cents": order.total_cents,
    }


def order_from_json(data: Any) -> Order:
    """Decode one order; raise CodecError when it does not follow the contract."""
    data = _object(data, "order")
    return Order(
        order_id=_str(data, "order_id"),
        customer_name=_str(data, "customer_name"),
        email=_str(data, "email"),
        postcode=_str(data, "postcode"),
        status=_enum(OrderStatus, data, "status"),
        placed_on=_date(data, "placed_on"),
        items=tuple(_item_from_json(item) for item in _list(data, "items")),
        shipped_on=_date(data, "shipped_on", optional=True),
        delivered_on=_date(data, "delivered_on", optional=True),
        expected_delivery=_date(data, "expected_delivery", optional=True),
        carrier=_str(data, "carrier", optional=True),
        tracking_number=_str(data, "tracking_number", optional=True),
    )


def orders_to_json(orders: Sequence[Order]) -> Json:
    return {"orders": [order_to_json(order) for order in orders]}


def orders_from_json(data: Any) -> List[Order]:
    return [order_from_json(order) for order in _list(_object(data, "response"), "orders")]


def _item_to_json(item: OrderItem) -> Json:
    return {
        "sku": item.sku,
        "name": item.name,
        "quantity": item.quantity,
        "unit_price_cents": item.unit_price_cents,
        "final_sale": item.final_sale,
    }


def _item_from_json(data: Any) -> OrderItem:
    data = _object(data, "item")
    return OrderItem(
        sku=_str(data, "sku"),
        name=_str(data, "name"),
        quantity=_int(data, "quantity"),
        unit_price_cents=_int(data, "unit_price_cents"),
        final_sale=_bool(data, "final_sale", default=False),
    )


# --- returns -----------------------------------------------------------------


def return_to_json(record: ReturnRecord) -> Json:
    return {
        "return_id": record.return_id,
        "order_id": record.order_id,
        "skus": list(record.skus),
        "reason": record.reason,
        "condition": record.condition,
        "status": record.status.value,
        "created_on": _date_out(record.created_on),
        "refund_cents": record.refund_cents,
        "refunded_on": _date_out(record.refunded_on),
        "notes": list(record.notes),
    }


def return_from_json(data: Any) -> ReturnRecord:
    """Decode one return; raise CodecError when it does not follow the contract."""
    data = _object(data, "return")
    return ReturnRecord(
        return_id=_str(data, "return_id"),
        order_id=_str(data, "order_id"),
        skus=tuple(_str_list(data, "skus")),
        reason=_str(data, "reason"),
        status=_enum(ReturnStatus, data, "status"),
        created_on=_date(data, "created_on"),
        refund_cents=_int(data, "refund_cents"),
        refunded_on=_date(data, "refunded_on", optional=True),
        condition=_str(data, "condition", optional=True) or "",
        notes=tuple(_str_list(data, "notes", optional=True)),
    )


def returns_to_json(records: Sequence[ReturnRecord]) -> Json:
    return {"returns": [return_to_json(record) for record in records]}


def returns_from_json(data: Any) -> List[ReturnRecord]:
    return [return_from_json(record) for record in _list(_object(data, "response"), "returns")]


def return_request_to_json(
    skus: Sequence[str], reason: str, condition: str, return_fee_cents: int = 0
) -> Json:
    """Body of ``POST /orders/{order_id}/returns``."""
    return {
        "skus": list(skus),
        "reason": reason,
        "condition": condition,
        "return_fee_cents": return_fee_cents,
    }


def return_request_from_json(data: Any) -> Tuple[List[str], str, str, int]:
    """(skus, reason, condition, return_fee_cents) from a return request body.

    ``return_fee_cents`` is optional (absent or null means 0); CodecError when
    anything is invalid, a negative fee included.
    """
    data = _object(data, "request body")
    skus = _str_list(data, "skus")
    if not skus:
        raise CodecError("'skus' must list at least one item")
    fee = _int_or(data, "return_fee_cents", 0)
    if fee < 0:
        raise CodecError("field 'return_fee_cents' must not be negative")
    return skus, _str(data, "reason"), _str(data, "condition", optional=True) or "", fee


# --- errors ------------------------------------------------------------------

# Error codes of the contract; the HTTP status says what kind of error it is.
ORDER_NOT_FOUND = "order_not_found"  # 404: the only 404 that means "no such order"
REQUEST_REJECTED = "request_rejected"  # 409: not possible for this order now
INVALID_REQUEST = "invalid_request"  # 400/422: the request itself is wrong
UNAUTHORIZED = "unauthorized"  # 401: missing or wrong API key
UNAVAILABLE = "unavailable"  # 503: the store's own backend failed
INTERNAL_ERROR = "internal_error"  # 500


def error_to_json(code: str, message: str) -> Json:
    """The body of every error answer: ``{"error": {"code": ..., "message": ...}}``."""
    return {"error": {"code": code, "message": message}}


def error_from_json(data: Any) -> Optional[Tuple[str, str]]:
    """(code, message) when ``data`` is a contract error body, else None."""
    error = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(error, Mapping):
        return None
    return str(error.get("code", "")), str(error.get("message", ""))


# --- field readers -----------------------------------------------------------
# Each names the field it rejects, so a store developer sees what to fix.


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise CodecError(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


def _present(data: Mapping[str, Any], key: str, optional: bool) -> Any:
    value = data.get(key)
    if value is None and not optional:
        raise CodecError(f"missing field '{key}'")
    return value


def _str(data: Mapping[str, Any], key: str, optional: bool = False) -> Optional[str]:
    value = _present(data, key, optional)
    if value is not None and not isinstance(value, str):
        raise CodecError(f"field '{key}' must be a string")
    return value


def _int(data: Mapping[str, Any], key: str) -> int:
    value = _present(data, key, optional=False)
    # bool is an int in Python but never a quantity or an amount of money.
    if isinstance(value, bool) or not isinstance(value, int):
        raise CodecError(f"field '{key}' must be an integer")
    return value


def _int_or(data: Mapping[str, Any], key: str, default: int) -> int:
    """An optional integer field; ``default`` when absent or null."""
    return default if data.get(key) is None else _int(data, key)


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise CodecError(f"field '{key}' must be true or false")
    return value


def _list(data: Mapping[str, Any], key: str, optional: bool = False) -> List[Any]:
    value = _present(data, key, optional)
    if value is None:
        return []
    if not isinstance(value, list):
        raise CodecError(f"field '{key}' must be a list")
    return value


def _str_list(data: Mapping[str, Any], key: str, optional: bool = False) -> List[str]:
    values = _list(data, key, optional)
    if not all(isinstance(value, str) for value in values):
        raise CodecError(f"field '{key}' must be a list of strings")
    return values


def _enum(enum: Any, data: Mapping[str, Any], key: str) -> Any:
    value = _str(data, key)
    try:
        return enum(value)
    except ValueError:
        valid = ", ".join(member.value for member in enum)
        raise CodecError(f"field '{key}' is {value!r}, expected one of: {valid}") from None


def _date(data: Mapping[str, Any], key: str, optional: bool = False) -> Optional[dt.date]:
    value = _str(data, key, optional)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CodecError(f"field '{key}' must be a date like 2026-11-23, got {value!r}") from None


def _date_out(value: Optional[dt.date]) -> Optional[str]:
    return value.isoformat() if value else None
