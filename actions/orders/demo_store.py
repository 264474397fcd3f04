"""A believable demo store for Harbor & Pine, seeded into the SQLite order system.

Two kinds of orders:

* fixed demo orders A1001-A1012, always present with the same ids, owners and
  story, documented in docs/demo-store.md so people know what to try;
* generated orders A1013 onwards, from a fixed random seed, so the store
  looks lived-in (customers with several orders, every status, returns).

Every date is relative to the ``today`` given when seeding, so "delivered
5 days ago" is true on the day the store is seeded. Reseed with ``--reset``
to move the dates to a new today.

Usage::

    python -m actions.orders.demo_store --db var/demo_store.db [--today 2026-11-23] [--reset]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

from actions.orders import sqlite_store as store
from actions.orders.records import Order, OrderItem, OrderStatus, ReturnRecord, ReturnStatus

PathLike = Union[str, Path]
RANDOM_SEED = 1042
FIRST_GENERATED_ORDER = 1013
FIRST_GENERATED_RETURN = 5006  # R5001-R5005 belong to the fixed demo orders


@dataclass(frozen=True)
class Customer:
    name: str
    email: str
    postcode: str


JANE = Customer("Jane Doe", "jane.doe@example.com", "94107")
MARCUS = Customer("Marcus Lee", "marcus.lee@example.com", "10001")
PRIYA = Customer("Priya Patel", "priya.patel@example.com", "60614")
TOM = Customer("Tom Becker", "tom.becker@example.com", "98103")
ANA = Customer("Ana Souza", "ana.souza@example.com", "78704")
DAVID = Customer("David Kim", "david.kim@example.com", "02139")
EMILY = Customer("Emily Clark", "emily.clark@example.com", "80205")
CARLOS = Customer("Carlos Rivera", "carlos.rivera@example.com", "33131")
HANNAH = Customer("Hannah Schmidt", "hannah.schmidt@example.com", "97214")
OMAR = Customer("Omar Haddad", "omar.haddad@example.com", "48201")
GRACE = Customer("Grace O'Neil", "grace.oneil@example.com", "30307")
LIAM = Customer("Liam Nguyen", "liam.nguyen@example.com", "92101")

# Jane's orders are all fixed, so the demo table lists everything she owns.
GENERATED_CUSTOMERS = (MARCUS, PRIYA, TOM, ANA, DAVID, EMILY, CARLOS, HANNAH, OMAR, GRACE, LIAM)


def _product(sku: str, name: str, price_cents: int, final_sale: bool = False) -> OrderItem:
    return OrderItem(sku, name, 1, price_cents, final_sale)


CATALOG = {
    item.sku: item
    for item in (
        _product("HP-MUG-01", "Stoneware Mug, Sage", 1800),
        _product("HP-THR-02", "Chunky Knit Throw, Oatmeal", 8900),
        _product("HP-DUV-03", "Linen Duvet Cover, Queen", 16900),
        _product("HP-CND-04", "Cedar & Pine Candle", 3200),
        _product("HP-TWL-05", "Turkish Bath Towel Set", 5400),
        _product("HP-LMP-06", "Ceramic Table Lamp", 12500),
        _product("HP-CUT-07", "Walnut Cutting Board", 6500),
        _product("HP-CSH-08", "Wool Cushion Cover, Rust", 3900),
        _product("AP-SWT-10", "Merino Crew Sweater, Navy, M", 11800),
        _product("AP-FLN-11", "Flannel Shirt, Red Plaid, L", 6800),
        _product("AP-JKT-12", "Waxed Rain Jacket, Olive, M", 19500),
        _product("AP-SCF-13", "Cashmere Scarf, Charcoal", 9500),
        _product("AP-SOC-14", "Wool Hiking Socks, 3-Pack", 2800),
        _product("AP-BNE-15", "Ribbed Beanie, Rust", 3400),
        _product("AP-APR-16", "Canvas Work Apron", 4200),
        # Clearance lines are sold as final sale and cannot be returned.
        _product("HP-NAP-90", "Linen Napkins, Set of 4 (Clearance)", 1500, final_sale=True),
        _product("HP-ORN-91", "Glass Ornament Set (Clearance)", 2400, final_sale=True),
        _product("AP-DNM-92", "Denim Chore Jacket, S (Sample Sale)", 7900, final_sale=True),
        _product("AP-GLV-93", "Knit Gloves, Grey (Last Season)", 1900, final_sale=True),
    )
}
REGULAR_SKUS = tuple(sku for sku, item in CATALOG.items() if not item.final_sale)
FINAL_SALE_SKUS = tuple(sku for sku, item in CATALOG.items() if item.final_sale)
CARRIERS = ("UPS", "FedEx", "USPS", "DHL")


# --- seeding -------------------------------------------------------------------


def seed_demo_store(path: PathLike, today: dt.date, *, reset: bool = False) -> int:
    """Create the schema and the demo store if the database has no orders.

    Idempotent: a store that already has orders is left alone, so a restart
    never duplicates or moves anything.

    Args:
        path: The SQLite file; it and its directory are created if missing.
        today: The day every demo date is relative to.
        reset: Delete every order and return first, then seed afresh.

    Returns:
        The number of orders in the store afterwards.
    """
    return _seed(Path(path), today, reset)[0]


def _seed(path: Path, today: dt.date, reset: bool) -> Tuple[int, bool]:
    """(orders in the store, whether this call wrote them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(store.connect(path, create=True)) as conn:
        store.ensure_schema(conn)
        conn.execute("BEGIN IMMEDIATE")  # two seeders at once: the second sees the first's orders
        try:
            if reset:
                for table in ("return_items", "returns", "order_items", "orders"):
                    conn.execute(f"DELETE FROM {table}")
            existing = store.count_orders(conn)
            if existing:
                conn.rollback()
                return existing, False
            orders, returns = build_demo_store(today)
            for order in orders:
                store.insert_order(conn, order)
            for record in returns:
                store.insert_return(conn, record)
            conn.commit()
            return len(orders), True
        except BaseException:
            conn.rollback()
            raise


def build_demo_store(today: dt.date) -> Tuple[List[Order], List[ReturnRecord]]:
    """Every demo order and return, as model objects (nothing is written)."""
    orders, returns = fixed_demo_orders(today)
    generated, generated_returns = _generated_orders(today)
    return orders + generated, returns + generated_returns


# --- the fixed demo orders (keep docs/demo-store.md in step) --------------------


def fixed_demo_orders(today: dt.date) -> Tuple[List[Order], List[ReturnRecord]]:
    """A1001-A1012: one order per story people want to try."""
    ago = lambda days: today - dt.timedelta(days=days)  # noqa: E731 - reads like the table
    ahead = lambda days: today + dt.timedelta(days=days)  # noqa: E731
    orders = [
        _order(
            "A1001",
            JANE,
            OrderStatus.DELIVERED,
            ago(10),
            [("HP-THR-02", 1), ("HP-NAP-90", 2)],
            shipped=ago(8),
            delivered=ago(5),
            carrier="UPS",
            tracking="1ZH4P9200312345678",
        ),
        _order(
            "A1002",
            JANE,
            OrderStatus.SHIPPED,
            ago(3),
            [("AP-SWT-10", 1)],
            shipped=ago(1),
            expected=ahead(2),
            carrier="FedEx",
            tracking="771234567890",
        ),
        _order(
            "A1003",
            JANE,
            OrderStatus.PROCESSING,
            today,
            [("HP-CUT-07", 1), ("HP-MUG-01", 4)],
            expected=ahead(6),
        ),
        _order(
            "A1004",
            MARCUS,
            OrderStatus.DELIVERED,
            ago(66),
            [("HP-LMP-06", 1), ("HP-CSH-08", 2)],
            shipped=ago(63),
            delivered=ago(60),
            carrier="UPS",
            tracking="1ZH4P9200387654321",
        ),
        _order(
            "A1005",
            JANE,
            OrderStatus.RETURNED,
            ago(38),
            [("AP-JKT-12", 1)],
            shipped=ago(36),
            delivered=ago(33),
            carrier="USPS",
            tracking="9400111899223344556677",
        ),
        _order(
            "A1006",
            JANE,
            OrderStatus.DELAYED,
            ago(12),
            [("HP-DUV-03", 1), ("HP-TWL-05", 1)],
            shipped=ago(10),
            expected=ahead(4),
            carrier="DHL",
            tracking="4829301756",
        ),
        _order(
            "A1007",
            PRIYA,
            OrderStatus.OUT_FOR_DELIVERY,
            ago(4),
            [("HP-CND-04", 3), ("AP-SCF-13", 1)],
            shipped=ago(2),
            expected=today,
            carrier="USPS",
            tracking="9400111899887766554433",
        ),
        _order("A1008", TOM, OrderStatus.CANCELLED, ago(9), [("AP-FLN-11", 1)]),
        _order(
            "A1009",
            DAVID,
            OrderStatus.DELIVERED,
            ago(16),
            [("AP-BNE-15", 1), ("AP-SOC-14", 1)],
            shipped=ago(14),
            delivered=ago(12),
            carrier="FedEx",
            tracking="771298765432",
        ),
        _order(
            "A1010",
            ANA,
            OrderStatus.DELIVERED,
            ago(24),
            [("HP-LMP-06", 1)],
            shipped=ago(22),
            delivered=ago(20),
            carrier="UPS",
            tracking="1ZH4P9200311223344",
        ),
        _order(
            "A1011",
            CARLOS,
            OrderStatus.DELIVERED,
            ago(21),
            [("AP-APR-16", 1), ("HP-MUG-01", 2)],
            shipped=ago(19),
            delivered=ago(17),
            carrier="USPS",
            tracking="9400111899001122334455",
        ),
        _order(
            "A1012",
            EMILY,
            OrderStatus.DELIVERED,
            ago(11),
            [("AP-DNM-92", 1), ("AP-GLV-93", 1)],
            shipped=ago(10),
            delivered=ago(8),
            carrier="DHL",
            tracking="4829305521",
        ),
    ]
    returns = [
        _return(
            "R5001",
            "A1005",
            [("AP-JKT-12", 19500)],
            "wrong_item",
            "unused",
            ReturnStatus.REFUNDED,
            ago(30),
            received=ago(24),
            refunded=ago(20),
        ),
        _return(
            "R5002",
            "A1009",
            [("AP-BNE-15", 3400)],
            "doesnt_fit",
            "unused",
            ReturnStatus.REQUESTED,
            ago(1),
        ),
        _return(
            "R5003",
            "A1010",
            [("HP-LMP-06", 12500)],
            "damaged",
            "defective",
            ReturnStatus.RECEIVED,
            ago(9),
            received=ago(2),
        ),
        _return(
            "R5004",
            "A1011",
            [("AP-APR-16", 4200)],
            "changed_mind",
            "used",
            ReturnStatus.REJECTED,
            ago(14),
            received=ago(8),
        ),
        # A1004's window is closed, but it had a refunded return while it was open.
        _return(
            "R5005",
            "A1004",
            [("HP-CSH-08", 7800)],
            "damaged",
            "defective",
            ReturnStatus.REFUNDED,
            ago(55),
            received=ago(50),
            refunded=ago(46),
        ),
    ]
    return orders, returns


# --- generated orders ------------------------------------------------------------

# Fixed mixes rather than random draws, so every status and both sides of
# the 30-day return window are always present whatever the seed.
GENERATED_STATUSES = (
    [OrderStatus.DELIVERED] * 16
    + [OrderStatus.SHIPPED] * 6
    + [OrderStatus.PROCESSING] * 4
    + [OrderStatus.OUT_FOR_DELIVERY] * 3
    + [OrderStatus.DELAYED] * 4
    + [OrderStatus.CANCELLED] * 4
    + [OrderStatus.RETURNED] * 5
)
DELIVERED_DAYS_AGO = (3, 10, 25, 40, 60, 90, 7, 14, 21, 28, 33, 45, 75, 120, 2, 18)


def _generated_orders(today: dt.date) -> Tuple[List[Order], List[ReturnRecord]]:
    rng = random.Random(RANDOM_SEED)
    statuses = list(GENERATED_STATUSES)
    rng.shuffle(statuses)
    delivered_days = iter(DELIVERED_DAYS_AGO)
    drafts = [_draft(rng, today, status, delivered_days) for status in statuses]
    # Order numbers grow with time, as in a real shop.
    drafts.sort(key=lambda order: (order.placed_on, order.customer_name))
    orders = [
        replace(order, order_id=f"A{number}")
        for number, order in enumerate(drafts, start=FIRST_GENERATED_ORDER)
    ]
    return orders, _generated_returns(rng, today, orders)


def _draft(
    rng: random.Random, today: dt.date, status: OrderStatus, delivered_days: Iterator[int]
) -> Order:
    """One order in ``status`` with dates that fit it; its id is assigned later."""
    customer = rng.choice(GENERATED_CUSTOMERS)
    regular_only = status is OrderStatus.RETURNED  # final-sale items never come back
    lines = _random_lines(rng, regular_only)
    carrier = rng.choice(CARRIERS)
    tracking = _tracking_number(rng, carrier)
    ago = lambda days: today - dt.timedelta(days=days)  # noqa: E731
    if status is OrderStatus.PROCESSING:
        placed, expected = ago(rng.randint(0, 1)), ago(-rng.randint(4, 7))
        return _order("", customer, status, placed, lines, expected=expected)
    if status is OrderStatus.CANCELLED:
        return _order("", customer, status, ago(rng.randint(2, 40)), lines)
    if status in (OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY, OrderStatus.DELAYED):
        placed_days, expected_in = {
            OrderStatus.SHIPPED: (rng.randint(2, 4), rng.randint(1, 4)),
            OrderStatus.OUT_FOR_DELIVERY: (rng.randint(3, 6), 0),
            # Delayed: shipped long ago, and now expected days from today.
            OrderStatus.DELAYED: (rng.randint(8, 14), rng.randint(2, 6)),
        }[status]
        return _order(
            "",
            customer,
            status,
            ago(placed_days),
            lines,
            shipped=ago(placed_days - 1),
            expected=ago(-expected_in),
            carrier=carrier,
            tracking=tracking,
        )
    days = next(delivered_days) if status is OrderStatus.DELIVERED else rng.randint(25, 50)
    shipped = days + rng.randint(2, 4)
    placed = ago(shipped + rng.randint(1, 2))
    return _order(
        "",
        customer,
        status,
        placed,
        lines,
        shipped=ago(shipped),
        delivered=ago(days),
        carrier=carrier,
        tracking=tracking,
    )


def _random_lines(rng: random.Random, regular_only: bool) -> List[Tuple[str, int]]:
    count = rng.choices((1, 2, 3, 4), weights=(5, 4, 2, 1))[0]
    skus: List[str] = []
    while len(skus) < count:
        pool = FINAL_SALE_SKUS if not regular_only and rng.random() < 0.2 else REGULAR_SKUS
        sku = rng.choice(pool)
        if sku not in skus:
            skus.append(sku)
    return [(sku, rng.choices((1, 2), weights=(5, 1))[0]) for sku in skus]


def _tracking_number(rng: random.Random, carrier: str) -> str:
    """A number in the carrier's usual shape (they are not real parcels)."""
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    return {
        "UPS": f"1ZH4P920{digits(2)}{digits(8)}",  # 1Z + shipper + service + parcel
        "FedEx": digits(12),
        "USPS": f"9400111{digits(15)}",
        "DHL": digits(10),
    }[carrier]


def _generated_returns(
    rng: random.Random, today: dt.date, orders: Sequence[Order]
) -> List[ReturnRecord]:
    """A return for every returned order and for every other delivered one."""
    returns: List[ReturnRecord] = []
    delivered = [o for o in orders if o.status is OrderStatus.DELIVERED]
    chosen = [o for o in orders if o.status is OrderStatus.RETURNED] + delivered[::2]
    for order in sorted(chosen, key=lambda o: o.delivered_on):
        returnable = [item for item in order.items if not item.final_sale]
        if not returnable:
            continue
        whole = order.status is OrderStatus.RETURNED
        items = returnable if whole else returnable[:1]
        record_id = f"R{FIRST_GENERATED_RETURN + len(returns)}"
        returns.append(_generated_return(rng, today, order, items, record_id, rejectable=not whole))
    return returns


def _generated_return(
    rng: random.Random,
    today: dt.date,
    order: Order,
    items: List[OrderItem],
    return_id: str,
    rejectable: bool,
) -> ReturnRecord:
    """Dates and status follow from how long ago the return was opened."""
    created = min(order.delivered_on + dt.timedelta(days=rng.randint(1, 4)), today)
    age = (today - created).days
    received = created + dt.timedelta(days=min(age, rng.randint(3, 5)))
    reason = rng.choice(("damaged", "wrong_item", "doesnt_fit", "changed_mind", "doesnt_fit"))
    rejected = rejectable and rng.random() < 0.25
    if age < 3:
        status = ReturnStatus.REQUESTED
    elif rejected:
        status = ReturnStatus.REJECTED
    elif age < 9:
        status = ReturnStatus.RECEIVED
    else:
        status = ReturnStatus.REFUNDED
    # The condition the customer declared; a rejected item was used after all.
    condition = "defective" if reason == "damaged" else "unused"
    if status is ReturnStatus.REJECTED:
        condition = "used"
    refunded = None
    if status is ReturnStatus.REFUNDED:
        refunded = received + dt.timedelta(days=rng.randint(2, 5))
    lines = [(item.sku, item.total_cents) for item in items]
    return _return(
        return_id,
        order.order_id,
        lines,
        reason,
        condition,
        status,
        created,
        received=None if status is ReturnStatus.REQUESTED else received,
        refunded=refunded,
    )


# --- builders ----------------------------------------------------------------------


def _order(
    order_id: str,
    customer: Customer,
    status: OrderStatus,
    placed: dt.date,
    lines: Sequence[Tuple[str, int]],
    *,
    shipped: Optional[dt.date] = None,
    delivered: Optional[dt.date] = None,
    expected: Optional[dt.date] = None,
    carrier: Optional[str] = None,
    tracking: Optional[str] = None,
) -> Order:
    return Order(
        order_id=order_id,
        customer_name=customer.name,
        email=customer.email,
        postcode=customer.postcode,
        status=status,
        placed_on=placed,
        items=tuple(replace(CATALOG[sku], quantity=quantity) for sku, quantity in lines),
        shipped_on=shipped,
        delivered_on=delivered,
        expected_delivery=expected,
        carrier=carrier,
        tracking_number=tracking,
    )


def _return(
    return_id: str,
    order_id: str,
    lines: Sequence[Tuple[str, int]],
    reason: str,
    condition: str,
    status: ReturnStatus,
    created: dt.date,
    *,
    received: Optional[dt.date] = None,
    refunded: Optional[dt.date] = None,
) -> ReturnRecord:
    """A return of ``lines`` (sku, line total in cents), with the history a store would note."""
    refund = sum(cents for _, cents in lines)
    notes = [f"{_short(created)}: prepaid return label emailed to the customer."]
    if received:
        notes.append(f"{_short(received)}: parcel received at our Reno warehouse.")
    if status is ReturnStatus.REJECTED:
        notes.append("Inspection: item shows signs of use; sent back to the customer.")
    if refunded:
        notes.append(f"{_short(refunded)}: ${refund / 100:,.2f} refunded to the original payment.")
    return ReturnRecord(
        return_id=return_id,
        order_id=order_id,
        skus=tuple(sku for sku, _ in lines),
        reason=reason,
        status=status,
        created_on=created,
        refund_cents=refund,
        refunded_on=refunded,
        condition=condition,
        notes=tuple(notes),
    )


def _short(day: dt.date) -> str:
    return f"{day:%b} {day.day}"


# --- command line --------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m actions.orders.demo_store --db PATH [--today YYYY-MM-DD] [--reset]``."""
    parser = argparse.ArgumentParser(description="Seed the Harbor & Pine demo order store.")
    parser.add_argument("--db", required=True, type=Path, help="SQLite file (created if missing)")
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=dt.date.today(),
        help="the day demo dates are relative to (default: today)",
    )
    parser.add_argument("--reset", action="store_true", help="delete every order first and reseed")
    args = parser.parse_args(argv)
    count, seeded = _seed(args.db, args.today, args.reset)
    if seeded:
        print(f"Seeded {count} demo orders into {args.db} (dates relative to {args.today}).")
        print("Try order A1001 with jane.doe@example.com or postcode 94107 (docs/demo-store.md).")
    else:
        print(f"{args.db} already has {count} orders; left unchanged (use --reset to reseed).")


if __name__ == "__main__":
    main()
