"""How orders, returns and money read in a chat message."""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterable, Optional

from actions.orders.records import Order, OrderItem, OrderStatus, ReturnRecord, ReturnStatus


def normalise_postcode(raw: str) -> str:
    """Compare postcodes without case, spaces or a ZIP+4 suffix."""
    code = re.sub(r"\s", "", str(raw)).upper()
    return code[:5] if re.fullmatch(r"\d{5}(-\d{4})?", code) else code


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def day(date: Optional[dt.date]) -> str:
    """'Monday, November 24' (the year only when it is not this year)."""
    if date is None:
        return "an unknown date"
    text = f"{date:%A, %B} {date.day}"
    return text if date.year == dt.date.today().year else f"{text}, {date.year}"


def item_line(item: OrderItem) -> str:
    qty = f"{item.quantity} × " if item.quantity > 1 else ""
    final = " (final sale)" if item.final_sale else ""
    return f"{qty}{item.name}{final}"


def items_sentence(items: Iterable[OrderItem]) -> str:
    return ", ".join(item_line(item) for item in items)


def order_choice_title(order: Order) -> str:
    """Button label for picking one of several orders."""
    count = sum(item.quantity for item in order.items)
    noun = "item" if count == 1 else "items"
    status = order.status.value.replace("_", " ")
    return (
        f"{order.order_id} · {order.placed_on:%b} {order.placed_on.day} · {count} {noun} · {status}"
    )


def order_status_message(order: Order) -> str:
    """Everything a customer asks about an order's delivery, in one message."""
    head = f"Order {order.order_id} ({items_sentence(order.items)}): "
    tracking = _tracking(order)
    status = order.status
    if status is OrderStatus.PROCESSING:
        body = "we're preparing it in our warehouse; it hasn't shipped yet."
        if order.expected_delivery:
            body += f" Expected delivery: {day(order.expected_delivery)}."
    elif status in (OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY):
        where = (
            "is out for delivery today" if status is OrderStatus.OUT_FOR_DELIVERY else "has shipped"
        )
        body = f"it {where}{tracking}. Expected delivery: {day(order.expected_delivery)}."
    elif status is OrderStatus.DELAYED:
        body = (
            f"it's delayed, sorry about that{tracking}. The new expected delivery date is "
            f"{day(order.expected_delivery)}."
        )
    elif status is OrderStatus.DELIVERED:
        body = f"it was delivered on {day(order.delivered_on)}{tracking}."
    elif status is OrderStatus.CANCELLED:
        body = "it was cancelled, and nothing will be shipped or charged."
    else:
        body = 'it was returned to us. Ask me "where is my refund?" to see the refund.'
    return head + body


def _tracking(order: Order) -> str:
    if order.carrier and order.tracking_number:
        return f" with {order.carrier}, tracking number {order.tracking_number}"
    return ""


def return_status_message(record: ReturnRecord, refund_business_days: str) -> str:
    """Where one return and its refund are."""
    head = f"Return {record.return_id} for order {record.order_id}"
    if record.status is ReturnStatus.REFUNDED:
        return f"{head}: we refunded {money(record.refund_cents)} on {day(record.refunded_on)}."
    if record.status is ReturnStatus.RECEIVED:
        return (
            f"{head}: we've received it and are inspecting it. Your refund of "
            f"{money(record.refund_cents)} follows within {refund_business_days} business days."
        )
    if record.status is ReturnStatus.REJECTED:
        return (
            f"{head}: it didn't pass inspection, so no refund was issued. A person can explain why."
        )
    return (
        f"{head} was opened on {day(record.created_on)}; we're waiting for the parcel. The refund "
        f"of {money(record.refund_cents)} is issued once it arrives and is inspected."
    )
