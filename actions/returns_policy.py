"""The store's return policy and the eligibility rules derived from it.

Plain functions over typed records so that the rules can be tested without
Rasa, and so the answer to "can I return this?" is decided in one place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, Optional, Tuple

import yaml

from actions.orders.records import Order, OrderItem, OrderStatus, ReturnRecord, ReturnStatus


class Ineligible(str, Enum):
    """Why an order (or an item condition) cannot be returned."""

    NOT_DELIVERED = "not_delivered"
    WINDOW_CLOSED = "window_closed"
    ALL_FINAL_SALE = "all_final_sale"
    ALREADY_RETURNED = "already_returned"
    CONDITION = "condition"


@dataclass(frozen=True)
class ReturnPolicy:
    """Settings from ``returns_policy.yml``."""

    window_days: int
    final_sale_returnable: bool
    conditions: Dict[str, str]
    accepted_conditions: FrozenSet[str]
    reasons: Dict[str, str]
    free_return_reasons: FrozenSet[str]
    return_shipping_fee_cents: int
    refund_business_days: str
    human_review_above_cents: Optional[int] = None

    @classmethod
    def from_file(cls, path: Path) -> "ReturnPolicy":
        """Load and validate the policy file; raise ValueError on a bad file."""
        try:
            raw = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read return policy {path}: {exc}") from exc
        try:
            policy = cls(
                window_days=int(raw["window_days"]),
                final_sale_returnable=bool(raw["final_sale_returnable"]),
                conditions=dict(raw["conditions"]),
                accepted_conditions=frozenset(raw["accepted_conditions"]),
                reasons=dict(raw["reasons"]),
                free_return_reasons=frozenset(raw.get("free_return_reasons", [])),
                return_shipping_fee_cents=int(raw.get("return_shipping_fee_cents", 0)),
                refund_business_days=str(raw.get("refund_business_days", "5-10")),
                human_review_above_cents=_optional_int(raw.get("human_review_above_cents")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid return policy {path}: {exc!r}") from exc
        unknown = policy.accepted_conditions - policy.conditions.keys()
        if unknown or policy.window_days < 0 or "other" not in policy.reasons:
            raise ValueError(
                f"invalid return policy {path}: accepted_conditions must be listed in "
                f"conditions (unknown: {sorted(unknown)}), window_days >= 0, reasons must "
                "include 'other'"
            )
        return policy


@dataclass(frozen=True)
class Eligibility:
    """The outcome of checking one order against the policy."""

    returnable_items: Tuple[OrderItem, ...]
    problem: Optional[Ineligible] = None
    deadline: Optional[dt.date] = None

    @property
    def eligible(self) -> bool:
        return self.problem is None


def return_deadline(policy: ReturnPolicy, order: Order) -> Optional[dt.date]:
    """Last day a delivered order can be returned."""
    if order.delivered_on is None:
        return None
    return order.delivered_on + dt.timedelta(days=policy.window_days)


def check_order(
    policy: ReturnPolicy,
    order: Order,
    today: dt.date,
    existing_returns: Iterable[ReturnRecord] = (),
) -> Eligibility:
    """Decide which items of an order, if any, can be returned today."""
    deadline = return_deadline(policy, order)
    if order.status is not OrderStatus.DELIVERED or deadline is None:
        return Eligibility((), Ineligible.NOT_DELIVERED)
    if today > deadline:
        return Eligibility((), Ineligible.WINDOW_CLOSED, deadline)
    allowed = [i for i in order.items if policy.final_sale_returnable or not i.final_sale]
    if not allowed:
        return Eligibility((), Ineligible.ALL_FINAL_SALE, deadline)
    taken = _skus_in_open_or_done_returns(existing_returns)
    remaining = tuple(i for i in allowed if i.sku not in taken)
    if not remaining:
        return Eligibility((), Ineligible.ALREADY_RETURNED, deadline)
    return Eligibility(remaining, None, deadline)


def condition_accepted(policy: ReturnPolicy, condition: str) -> bool:
    """Whether an item in this condition can be returned."""
    return condition in policy.accepted_conditions


def return_fee_cents(policy: ReturnPolicy, reason: str) -> int:
    """The fee charged for a return with this reason: the return shipping fee unless it is free.

    The order system deducts it from the items' price and records the refund;
    the bot quotes that recorded amount rather than computing its own.
    """
    return 0 if reason in policy.free_return_reasons else policy.return_shipping_fee_cents


def _skus_in_open_or_done_returns(returns: Iterable[ReturnRecord]) -> FrozenSet[str]:
    # A rejected return frees its items to be returned again (e.g. with a photo).
    return frozenset(
        sku
        for record in returns
        if record.status is not ReturnStatus.REJECTED
        for sku in record.skus
    )


def needs_human_review(policy: ReturnPolicy, items: Iterable[OrderItem]) -> bool:
    """Large returns are a business rule for a person to decide."""
    limit = policy.human_review_above_cents
    return limit is not None and sum(item.total_cents for item in items) > limit


def _optional_int(value: object) -> Optional[int]:
    return None if value is None else int(value)
