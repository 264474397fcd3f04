"""The one interface actions use to reach a store's order system.

Adapters (SQLite demo store, JSON over HTTP) implement :class:`OrderSystem`;
actions depend on nothing else, so a store plugs in its own system by
writing one class.
"""

from __future__ import annotations

import abc
from typing import List, Optional, Sequence

from actions.orders.records import Order, ReturnRecord


class OrderSystemError(Exception):
    """Base class of every error an adapter raises."""


class OrderSystemUnavailable(OrderSystemError):
    """The order system could not be reached or failed (timeout, refused, 5xx).

    The bot answers honestly that it cannot reach the order system; the
    handoff work escalates on it.
    """


class OrderNotFound(OrderSystemError):
    """No order (or return) has the given id."""


class RequestRejected(OrderSystemError):
    """The order system refused a change, e.g. cancelling a shipped order."""


class OrderSystem(abc.ABC):
    """Look up orders, create returns, read refunds and cancel orders."""

    @abc.abstractmethod
    async def get_order(self, order_id: str) -> Optional[Order]:
        """Return the order with this id, or None when there is none."""

    @abc.abstractmethod
    async def find_orders_by_email(self, email: str) -> List[Order]:
        """Return the orders placed with this email, newest first."""

    @abc.abstractmethod
    async def create_return(
        self,
        order_id: str,
        skus: Sequence[str],
        reason: str,
        condition: str,
        *,
        return_fee_cents: int = 0,
    ) -> ReturnRecord:
        """Create a return of these items; raise OrderNotFound / RequestRejected.

        ``return_fee_cents`` (e.g. a return shipping fee the return policy
        charges for this reason) is deducted from the returned items' price;
        the recorded ``refund_cents`` never goes below zero. The order system
        records the amount, so it is the one the customer is told and later
        sees in "where is my refund?". A negative fee raises RequestRejected.
        """

    @abc.abstractmethod
    async def get_returns(self, order_id: str) -> List[ReturnRecord]:
        """Return the returns (with refund state) of one order, newest first."""

    @abc.abstractmethod
    async def cancel_order(self, order_id: str) -> Order:
        """Cancel an order that has not shipped and return it as it is now."""
