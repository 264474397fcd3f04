"""The SQLite order system and the demo store seeded into it.

The first part is the OrderSystem contract: it uses the ``orders`` fixture,
so it runs against the SQLite store directly and through HTTP (reference
server + HttpOrderSystem). The rest is specific to SQLite and the seed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from actions.orders.adapter import OrderNotFound, OrderSystemUnavailable, RequestRejected
from actions.orders.demo_store import build_demo_store, main, seed_demo_store
from actions.orders.records import OrderStatus, ReturnStatus
from actions.orders.sqlite_store import SQLiteOrderSystem
from tests.support.orders import TODAY, days_ago

JANE = "jane.doe@example.com"
JANES_ORDERS = {"A1001", "A1002", "A1003", "A1005", "A1006"}


# --- the contract, for both adapters -------------------------------------------


async def test_get_order_returns_the_whole_order(orders):
    order = await orders.get_order("A1001")
    assert (order.order_id, order.customer_name, order.email, order.postcode) == (
        "A1001",
        "Jane Doe",
        JANE,
        "94107",
    )
    assert order.status is OrderStatus.DELIVERED
    assert (order.placed_on, order.shipped_on, order.delivered_on) == (
        days_ago(10),
        days_ago(8),
        days_ago(5),
    )
    assert (order.carrier, order.tracking_number) == ("UPS", "1ZH4P9200312345678")
    assert [(i.sku, i.quantity, i.unit_price_cents, i.final_sale) for i in order.items] == [
        ("HP-THR-02", 1, 8900, False),
        ("HP-NAP-90", 2, 1500, True),
    ]
    assert order.total_cents == 11900


@pytest.mark.parametrize("typed", ["A1001", "a1001", "#A1001", "#a1001", " a-1001 ", "A 1001"])
async def test_order_ids_are_found_in_any_shape(orders, typed):
    order = await orders.get_order(typed)
    assert order is not None and order.order_id == "A1001"


@pytest.mark.parametrize("unknown", ["A9999", "B1001", "", "#", "A1001/returns"])
async def test_an_unknown_order_is_none(orders, unknown):
    assert await orders.get_order(unknown) is None


async def test_orders_by_email_ignore_case_and_come_newest_first(orders):
    found = await orders.find_orders_by_email("  Jane.DOE@Example.COM ")
    assert {o.order_id for o in found} == JANES_ORDERS
    placed = [o.placed_on for o in found]
    assert placed == sorted(placed, reverse=True)
    assert found[0].order_id == "A1003"  # placed today
    assert all(o.email == JANE for o in found)


async def test_an_unknown_email_has_no_orders(orders):
    assert await orders.find_orders_by_email("nobody@example.com") == []


async def test_a_return_is_created_with_the_next_id_and_the_items_price(orders):
    record = await orders.create_return("a1001", ["HP-THR-02"], "doesnt_fit", "unused")
    assert re.fullmatch(r"R5\d{3}", record.return_id)
    assert record.order_id == "A1001"
    assert record.skus == ("HP-THR-02",)
    assert (record.reason, record.condition) == ("doesnt_fit", "unused")
    assert record.status is ReturnStatus.REQUESTED
    assert record.created_on == TODAY and record.refunded_on is None
    assert record.refund_cents == 8900
    assert (await orders.get_returns("A1001"))[0] == record


async def test_return_ids_follow_the_highest_existing_one(orders, sqlite_orders):
    highest = max(await _all_return_numbers(sqlite_orders))
    first = await orders.create_return("A1001", ["HP-THR-02"], "damaged", "defective")
    second = await orders.create_return("A1009", ["AP-SOC-14"], "other", "unused")
    assert (first.return_id, second.return_id) == (f"R{highest + 1}", f"R{highest + 2}")


async def test_the_refund_of_a_return_is_the_price_of_its_lines_quantity_included(orders):
    record = await orders.create_return("A1001", ["HP-THR-02", "hp-nap-90"], "damaged", "defective")
    assert record.skus == ("HP-THR-02", "HP-NAP-90")
    assert record.refund_cents == 8900 + 2 * 1500


async def test_a_return_fee_is_deducted_from_the_refund(orders):
    record = await orders.create_return(
        "A1001", ["HP-THR-02", "HP-NAP-90"], "doesnt_fit", "unused", return_fee_cents=495
    )
    assert record.refund_cents == 8900 + 2 * 1500 - 495
    assert (await orders.get_returns("A1001"))[0].refund_cents == record.refund_cents


async def test_without_a_return_fee_the_refund_is_the_items_price(orders):
    record = await orders.create_return(
        "A1001", ["HP-THR-02"], "damaged", "defective", return_fee_cents=0
    )
    assert record.refund_cents == 8900


async def test_a_return_fee_never_makes_the_refund_negative(orders):
    record = await orders.create_return(
        "A1001", ["HP-NAP-90"], "changed_mind", "unused", return_fee_cents=5000
    )
    assert record.refund_cents == 0
    assert (await orders.get_returns("A1001"))[0].refund_cents == 0


@pytest.mark.parametrize("fee", [-1, -495])
async def test_a_negative_return_fee_is_rejected(orders, fee):
    with pytest.raises(RequestRejected):
        await orders.create_return(
            "A1001", ["HP-THR-02"], "doesnt_fit", "unused", return_fee_cents=fee
        )
    assert await orders.get_returns("A1001") == []  # nothing created


async def test_newest_returns_come_first(orders):
    await orders.create_return("A1001", ["HP-THR-02"], "damaged", "defective")
    await orders.create_return("A1001", ["HP-NAP-90"], "damaged", "defective")
    returns = await orders.get_returns("#a1001")
    assert [r.skus for r in returns] == [("HP-NAP-90",), ("HP-THR-02",)]


async def test_returns_of_an_order_carry_their_refund(orders):
    (record,) = await orders.get_returns("A1005")
    assert (record.return_id, record.status, record.refund_cents) == (
        "R5001",
        ReturnStatus.REFUNDED,
        19500,
    )
    assert record.refunded_on == days_ago(20)
    assert record.notes and "refunded" in record.notes[-1]


async def test_an_order_without_returns_has_an_empty_list(orders):
    assert await orders.get_returns("A1002") == []


async def test_returns_of_an_unknown_order_are_an_error(orders):
    with pytest.raises(OrderNotFound):
        await orders.get_returns("A9999")


async def test_a_return_of_an_item_not_in_the_order_is_rejected(orders):
    with pytest.raises(RequestRejected, match="NOPE-1"):
        await orders.create_return("A1001", ["HP-THR-02", "NOPE-1"], "damaged", "defective")
    assert await orders.get_returns("A1001") == []  # nothing half-created


async def test_a_return_without_items_is_rejected(orders):
    with pytest.raises(RequestRejected):
        await orders.create_return("A1001", [], "damaged", "defective")


@pytest.mark.parametrize("order_id", ["A1002", "A1003", "A1005", "A1006", "A1007", "A1008"])
async def test_only_delivered_orders_can_be_returned(orders, order_id):
    order = await orders.get_order(order_id)
    with pytest.raises(RequestRejected, match="delivered"):
        await orders.create_return(order_id, [order.items[0].sku], "damaged", "defective")


async def test_an_item_in_an_open_return_cannot_be_returned_again(orders):
    with pytest.raises(RequestRejected, match="R5002"):  # A1009's beanie: return requested
        await orders.create_return("A1009", ["AP-BNE-15"], "damaged", "defective")
    other = await orders.create_return("A1009", ["AP-SOC-14"], "damaged", "defective")
    with pytest.raises(RequestRejected, match=other.return_id):
        await orders.create_return("A1009", ["AP-SOC-14"], "damaged", "defective")


async def test_an_item_of_a_rejected_return_can_be_returned_again(orders):
    record = await orders.create_return(
        "A1011", ["AP-APR-16"], "damaged", "defective"
    )  # R5004 was rejected
    assert record.status is ReturnStatus.REQUESTED


async def test_a_return_of_an_unknown_order_is_not_found(orders):
    with pytest.raises(OrderNotFound):
        await orders.create_return("A9999", ["X"], "damaged", "defective")


async def test_a_processing_order_is_cancelled(orders):
    cancelled = await orders.cancel_order("#a1003")
    assert cancelled.order_id == "A1003"
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.expected_delivery is None
    assert (await orders.get_order("A1003")).status is OrderStatus.CANCELLED


@pytest.mark.parametrize("order_id", ["A1001", "A1002", "A1005", "A1006", "A1007", "A1008"])
async def test_orders_past_processing_cannot_be_cancelled(orders, order_id):
    before = await orders.get_order(order_id)
    with pytest.raises(RequestRejected, match="cancelled"):
        await orders.cancel_order(order_id)
    assert await orders.get_order(order_id) == before


async def test_cancelling_twice_is_rejected(orders):
    await orders.cancel_order("A1003")
    with pytest.raises(RequestRejected):
        await orders.cancel_order("A1003")


async def test_cancelling_an_unknown_order_is_not_found(orders):
    with pytest.raises(OrderNotFound):
        await orders.cancel_order("A9999")


async def test_concurrent_returns_get_distinct_ids(orders):
    requests = [
        ("A1001", "HP-THR-02"),
        ("A1009", "AP-SOC-14"),
        ("A1012", "AP-DNM-92"),
        ("A1010", "HP-LMP-06"),
    ]
    results = await asyncio.gather(
        *(orders.create_return(oid, [sku], "damaged", "defective") for oid, sku in requests),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, Exception)]
    # A1010's lamp is already in R5003 (received): that one alone is refused.
    assert isinstance(results[3], RequestRejected)
    assert len({r.return_id for r in created}) == 3


# --- SQLite specifics -----------------------------------------------------------


async def test_the_store_does_not_block_the_event_loop(sqlite_orders):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)  # not a wait: hands the loop back, counting each turn

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(sqlite_orders.find_orders_by_email(JANE) for _ in range(20)))
    task.cancel()
    assert ticks > 1  # the loop kept running while the worker threads read


async def test_a_missing_directory_is_unavailable(tmp_path):
    orders = SQLiteOrderSystem(tmp_path / "missing" / "store.db", create=True)
    with pytest.raises(OrderSystemUnavailable):
        await orders.get_order("A1001")


async def test_a_missing_file_is_unavailable_unless_creating(tmp_path):
    with pytest.raises(OrderSystemUnavailable):
        await SQLiteOrderSystem(tmp_path / "store.db").get_order("A1001")
    assert not (tmp_path / "store.db").exists()
    created = SQLiteOrderSystem(tmp_path / "store.db", create=True)
    assert await created.get_order("A1001") is None
    assert await created.find_orders_by_email(JANE) == []


async def test_a_corrupt_file_is_unavailable(tmp_path):
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OrderSystemUnavailable):
        await SQLiteOrderSystem(path).get_order("A1001")


async def test_a_locked_database_is_unavailable(store_path):
    holder = sqlite3.connect(store_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        orders = SQLiteOrderSystem(store_path, busy_timeout_seconds=0.1)
        with pytest.raises(OrderSystemUnavailable, match="locked"):
            await orders.get_order("A1001")
        with pytest.raises(OrderSystemUnavailable):
            await orders.cancel_order("A1003")
    finally:
        holder.rollback()
        holder.close()
    assert (await orders.get_order("A1003")).status is OrderStatus.PROCESSING


async def test_a_store_loaded_with_lowercase_ids_and_emails_is_still_found(tmp_path):
    path = tmp_path / "store.db"
    seed_demo_store(path, TODAY)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE orders SET order_id = 'a1002', email = 'JANE.DOE@EXAMPLE.COM' "
            "WHERE order_id = 'A1002'"
        )
        conn.execute("UPDATE order_items SET order_id = 'a1002' WHERE order_id = 'A1002'")
    orders = SQLiteOrderSystem(path)
    assert (await orders.get_order("A1002")) is not None
    assert len(await orders.find_orders_by_email(JANE)) == len(JANES_ORDERS)


# --- seeding ----------------------------------------------------------------------


def test_seeding_is_idempotent(tmp_path):
    path = tmp_path / "store.db"
    count = seed_demo_store(path, TODAY)
    before = _dump(path)
    assert seed_demo_store(path, TODAY + dt.timedelta(days=7)) == count
    assert _dump(path) == before


async def test_reset_reseeds_from_scratch(store_path, sqlite_orders):
    await sqlite_orders.cancel_order("A1003")
    await sqlite_orders.create_return("A1001", ["HP-THR-02"], "damaged", "defective")
    count = seed_demo_store(store_path, TODAY, reset=True)
    assert count == seed_demo_store(store_path, TODAY)
    assert (await sqlite_orders.get_order("A1003")).status is OrderStatus.PROCESSING
    assert await sqlite_orders.get_returns("A1001") == []


def test_seeding_creates_the_directory(tmp_path):
    assert seed_demo_store(tmp_path / "var" / "nested" / "store.db", TODAY) >= 45


def test_the_seed_is_deterministic_and_relative_to_today():
    orders, returns = build_demo_store(TODAY)
    assert (orders, returns) == build_demo_store(TODAY)
    shift = dt.timedelta(days=100)
    later_orders, later_returns = build_demo_store(TODAY + shift)
    assert [o.order_id for o in later_orders] == [o.order_id for o in orders]
    assert [o.placed_on + shift for o in orders] == [o.placed_on for o in later_orders]
    assert [o.delivered_on and o.delivered_on + shift for o in orders] == [
        o.delivered_on for o in later_orders
    ]
    assert [r.created_on + shift for r in returns] == [r.created_on for r in later_returns]


def test_the_cli_seeds_once_and_says_so(tmp_path, capsys):
    path = tmp_path / "cli.db"
    main(["--db", str(path), "--today", TODAY.isoformat()])
    assert "Seeded" in capsys.readouterr().out
    main(["--db", str(path)])
    assert "left unchanged" in capsys.readouterr().out
    main(["--db", str(path), "--reset"])
    assert "Seeded" in capsys.readouterr().out


FIXED = [
    # id, status, email, postcode: the table in docs/demo-store.md
    ("A1001", OrderStatus.DELIVERED, JANE, "94107"),
    ("A1002", OrderStatus.SHIPPED, JANE, "94107"),
    ("A1003", OrderStatus.PROCESSING, JANE, "94107"),
    ("A1004", OrderStatus.DELIVERED, "marcus.lee@example.com", "10001"),
    ("A1005", OrderStatus.RETURNED, JANE, "94107"),
    ("A1006", OrderStatus.DELAYED, JANE, "94107"),
    ("A1007", OrderStatus.OUT_FOR_DELIVERY, "priya.patel@example.com", "60614"),
    ("A1008", OrderStatus.CANCELLED, "tom.becker@example.com", "98103"),
    ("A1009", OrderStatus.DELIVERED, "david.kim@example.com", "02139"),
    ("A1010", OrderStatus.DELIVERED, "ana.souza@example.com", "78704"),
    ("A1011", OrderStatus.DELIVERED, "carlos.rivera@example.com", "33131"),
    ("A1012", OrderStatus.DELIVERED, "emily.clark@example.com", "80205"),
]


@pytest.mark.parametrize("order_id, status, email, postcode", FIXED)
async def test_the_documented_demo_orders_are_there(
    sqlite_orders, order_id, status, email, postcode
):
    order = await sqlite_orders.get_order(order_id)
    assert (order.status, order.email, order.postcode) == (status, email, postcode)


async def test_the_demo_orders_tell_their_stories(sqlite_orders):
    get = sqlite_orders.get_order
    assert (await get("A1001")).delivered_on == days_ago(5)
    assert (await get("A1004")).delivered_on == days_ago(60)
    delayed = await get("A1006")
    assert delayed.expected_delivery > TODAY and delayed.carrier
    assert (await get("A1007")).expected_delivery == TODAY
    assert (await get("A1002")).expected_delivery > TODAY
    assert all(item.final_sale for item in (await get("A1012")).items)
    returns = {
        oid: (await sqlite_orders.get_returns(oid))[0].status
        for oid in ("A1005", "A1009", "A1010", "A1011")
    }
    assert returns == {
        "A1005": ReturnStatus.REFUNDED,
        "A1009": ReturnStatus.REQUESTED,
        "A1010": ReturnStatus.RECEIVED,
        "A1011": ReturnStatus.REJECTED,
    }


def test_the_seed_is_a_believable_store():
    orders, returns = build_demo_store(TODAY)
    ids = [o.order_id for o in orders]
    assert len(orders) >= 45 and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"A10(0[1-9]|[1-9]\d)", oid) for oid in ids)  # A1001..A1099
    assert {o.status for o in orders} == set(OrderStatus)
    assert {r.status for r in returns} == set(ReturnStatus)
    assert any(len(o.items) >= 2 for o in orders if o.order_id >= "A1013")
    assert any(i.final_sale for o in orders if o.order_id >= "A1013" for i in o.items)


def test_the_seed_has_a_dozen_customers_several_with_many_orders():
    orders, _ = build_demo_store(TODAY)
    per_email = Counter(o.email for o in orders)
    assert 10 <= len(per_email) <= 14
    assert sum(1 for count in per_email.values() if count >= 3) >= 4
    postcodes = defaultdict(set)
    for order in orders:
        postcodes[order.email].add(order.postcode)
        assert order.email.endswith("@example.com") and re.fullmatch(r"\d{5}", order.postcode)
    assert all(len(codes) == 1 for codes in postcodes.values())  # the postcode proves the customer


def test_delivered_orders_fall_on_both_sides_of_the_return_window():
    orders, _ = build_demo_store(TODAY)
    ages = {(TODAY - o.delivered_on).days for o in orders if o.status is OrderStatus.DELIVERED}
    assert {3, 5, 10, 25} <= ages and {40, 60, 90} <= ages


def test_shipments_have_carriers_tracking_numbers_and_dates():
    orders, _ = build_demo_store(TODAY)
    shapes = {"UPS": r"1Z[0-9A-Z]{16}", "FedEx": r"\d{12}", "USPS": r"94\d{20}", "DHL": r"\d{10}"}
    assert {o.carrier for o in orders if o.carrier} == set(shapes)
    in_transit = (OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY, OrderStatus.DELAYED)
    for order in orders:
        if order.carrier:
            assert re.fullmatch(shapes[order.carrier], order.tracking_number), order
        if order.status in in_transit or order.status is OrderStatus.DELIVERED:
            assert (
                order.carrier and order.shipped_on and order.placed_on <= order.shipped_on <= TODAY
            )
        if order.status in in_transit or order.status is OrderStatus.PROCESSING:
            assert order.expected_delivery and order.expected_delivery >= TODAY, order
        if order.status is OrderStatus.DELAYED:
            assert order.expected_delivery > TODAY
        if order.delivered_on:
            assert order.shipped_on < order.delivered_on <= TODAY


def test_returns_match_their_orders():
    orders, returns = build_demo_store(TODAY)
    by_id = {o.order_id: o for o in orders}
    assert len({r.return_id for r in returns}) == len(returns)
    for record in returns:
        order = by_id[record.order_id]
        items = {i.sku: i for i in order.items}
        assert set(record.skus) <= set(items)
        assert record.refund_cents == sum(items[sku].total_cents for sku in record.skus)
        assert order.delivered_on <= record.created_on <= TODAY
        assert (record.refunded_on is not None) == (record.status is ReturnStatus.REFUNDED)
        if record.refunded_on:
            assert record.created_on < record.refunded_on <= TODAY
    returned = [o for o in orders if o.status is OrderStatus.RETURNED]
    assert all(any(r.order_id == o.order_id for r in returns) for o in returned)


# --- helpers ------------------------------------------------------------------------


async def _all_return_numbers(store: SQLiteOrderSystem):
    with sqlite3.connect(store.path) as conn:
        return [int(rid[1:]) for (rid,) in conn.execute("SELECT return_id FROM returns")]


def _dump(path: Path):
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())
