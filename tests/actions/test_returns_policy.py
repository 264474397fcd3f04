"""The return policy's rules, on orders built by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from actions import returns_policy as rules
from actions.orders.records import Order, OrderItem, OrderStatus, ReturnRecord, ReturnStatus
from tests.support.orders import TODAY

POLICY = rules.ReturnPolicy.from_file(Path("returns_policy.yml"))
MUG = OrderItem("MUG-1", "Stoneware mug", 2, 1800)
LAMP = OrderItem("LAMP-1", "Brass lamp", 1, 8900, final_sale=True)


def order(status=OrderStatus.DELIVERED, delivered_days_ago=5, items=(MUG, LAMP)) -> Order:
    delivered = (
        TODAY - dt.timedelta(days=delivered_days_ago) if status is OrderStatus.DELIVERED else None
    )
    return Order(
        "A1001",
        "Jane Doe",
        "jane@example.com",
        "94107",
        status,
        TODAY - dt.timedelta(days=20),
        tuple(items),
        delivered_on=delivered,
    )


def test_the_project_policy_file_loads_with_its_documented_values():
    assert POLICY.window_days == 30
    assert POLICY.accepted_conditions == {"unused", "defective"}
    assert not POLICY.final_sale_returnable


def test_delivered_order_inside_window_offers_only_non_final_sale_items():
    result = rules.check_order(POLICY, order(), TODAY)
    assert result.eligible
    assert result.returnable_items == (MUG,)
    assert result.deadline == TODAY + dt.timedelta(days=25)


@pytest.mark.parametrize("days_ago, eligible", [(30, True), (31, False), (90, False)])
def test_the_window_counts_whole_days_from_delivery(days_ago, eligible):
    result = rules.check_order(POLICY, order(delivered_days_ago=days_ago), TODAY)
    assert result.eligible is eligible
    if not eligible:
        assert result.problem is rules.Ineligible.WINDOW_CLOSED


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not OrderStatus.DELIVERED])
def test_only_delivered_orders_can_be_returned(status):
    assert (
        rules.check_order(POLICY, order(status=status), TODAY).problem
        is rules.Ineligible.NOT_DELIVERED
    )


def test_an_order_of_only_final_sale_items_cannot_be_returned():
    result = rules.check_order(POLICY, order(items=(LAMP,)), TODAY)
    assert result.problem is rules.Ineligible.ALL_FINAL_SALE


def test_items_already_in_a_return_are_not_offered_again_unless_it_was_rejected():
    def existing(status):
        return ReturnRecord("R1", "A1001", ("MUG-1",), "damaged", status, TODAY, 3600)

    taken = rules.check_order(POLICY, order(), TODAY, [existing(ReturnStatus.REQUESTED)])
    assert taken.problem is rules.Ineligible.ALREADY_RETURNED
    freed = rules.check_order(POLICY, order(), TODAY, [existing(ReturnStatus.REJECTED)])
    assert freed.returnable_items == (MUG,)


def test_conditions_and_return_fees_follow_the_policy():
    assert rules.condition_accepted(POLICY, "unused")
    assert not rules.condition_accepted(POLICY, "used")
    assert rules.return_fee_cents(POLICY, "damaged") == 0
    assert rules.return_fee_cents(POLICY, "wrong_item") == 0
    assert rules.return_fee_cents(POLICY, "changed_mind") == 495
    assert rules.return_fee_cents(POLICY, "other") == 495


def test_a_broken_policy_file_gives_a_clear_error(tmp_path):
    bad = tmp_path / "policy.yml"
    bad.write_text("window_days: 30\naccepted_conditions: [mint]\nconditions: {unused: x}\n")
    with pytest.raises(ValueError, match="invalid return policy"):
        rules.ReturnPolicy.from_file(bad)
    with pytest.raises(ValueError, match="cannot read"):
        rules.ReturnPolicy.from_file(tmp_path / "missing.yml")
