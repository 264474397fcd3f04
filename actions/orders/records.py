"""Typed records that every order system adapter returns.

Actions never see a database row or a JSON payload: only these dataclasses.
Money is kept in integer cents so that sums and comparisons are exact.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional, Tuple


class OrderStatus(str, Enum):
    """Where an order is in its life, as the order system reports it."""

    PROCESSING = "processing"
    SHIPPED = "shipped"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELAYED = "delayed"
    CANCELLED = "cancelled"
    RETURNED = "returned"

    @property
    def cancellable(self) -> bool:
        """Only orders that have not left the warehouse can be cancelled."""
        return self is OrderStatus.PROCESSING


class ReturnStatus(str, Enum):
    """Where a return (and so its refund) is."""

    REQUESTED = "requested"  # created, waiting for the parcel
    RECEIVED = "received"  # parcel arrived, being inspected
    REFUNDED = "refunded"  # money sent back
    REJECTED = "rejected"  # inspection failed


@dataclass(frozen=True)
class OrderItem:
    """One line of an order."""

    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    final_sale: bool = False

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True)
class Order:
    """An order as the customer placed it, with its delivery state."""

    order_id: str
    customer_name: str
    email: str
    postcode: str
    status: OrderStatus
    placed_on: dt.date
    items: Tuple[OrderItem, ...]
    shipped_on: Optional[dt.date] = None
    delivered_on: Optional[dt.date] = None
    expected_delivery: Optional[dt.date] = None
    carrier: Optional[str] = None
    tracking_number: Optional[str] = None

    @property
    def total_cents(self) -> int:
        return sum(item.total_cents for item in self.items)


@dataclass(frozen=True)
class ReturnRecord:
    """A return of some items of one order, and the refund that follows it."""

    return_id: str
    order_id: str
    skus: Tuple[str, ...]
    reason: str
    status: ReturnStatus
    created_on: dt.date
    refund_cents: int
    refunded_on: Optional[dt.date] = None
    condition: str = ""
    notes: Tuple[str, ...] = field(default_factory=tuple)
