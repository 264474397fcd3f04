"""An order system kept in one SQLite file: the demo store, and a store's simplest option.

Every call opens its own short connection in a worker thread
(``asyncio.to_thread``), so the action server's event loop never waits on
the disk and no connection is shared between threads. Rules that protect
the data (which items can be returned, which orders cancelled) are checked
inside the same write transaction that applies the change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, TypeVar, Union

from actions.orders.adapter import (
    OrderNotFound,
    OrderSystem,
    OrderSystemUnavailable,
    RequestRejected,
)
from actions.orders.codec import normalise_email, normalise_order_id
from actions.orders.records import Order, OrderItem, OrderStatus, ReturnRecord, ReturnStatus

PathLike = Union[str, Path]
T = TypeVar("T")

FIRST_RETURN_NUMBER = 5001

# NOCASE on ids and emails keeps lookups case-insensitive even for rows a
# store loads itself without normalising them first.
SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id          TEXT PRIMARY KEY COLLATE NOCASE,
    customer_name     TEXT NOT NULL,
    email             TEXT NOT NULL COLLATE NOCASE,
    postcode          TEXT NOT NULL,
    status            TEXT NOT NULL,
    placed_on         TEXT NOT NULL,
    shipped_on        TEXT,
    delivered_on      TEXT,
    expected_delivery TEXT,
    carrier           TEXT,
    tracking_number   TEXT
);
CREATE INDEX IF NOT EXISTS orders_by_email ON orders (email);
CREATE TABLE IF NOT EXISTS order_items (
    order_id         TEXT NOT NULL COLLATE NOCASE REFERENCES orders (order_id),
    line_no          INTEGER NOT NULL,
    sku              TEXT NOT NULL,
    name             TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    final_sale       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, sku)
);
CREATE TABLE IF NOT EXISTS returns (
    return_id    TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL COLLATE NOCASE REFERENCES orders (order_id),
    reason       TEXT NOT NULL,
    condition    TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    created_on   TEXT NOT NULL,
    refund_cents INTEGER NOT NULL,
    refunded_on  TEXT,
    notes        TEXT NOT NULL DEFAULT '[]'  -- JSON list of strings
);
CREATE INDEX IF NOT EXISTS returns_by_order ON returns (order_id);
CREATE TABLE IF NOT EXISTS return_items (
    return_id TEXT NOT NULL REFERENCES returns (return_id),
    sku       TEXT NOT NULL,
    PRIMARY KEY (return_id, sku)
);
"""


class SQLiteOrderSystem(OrderSystem):
    """:class:`OrderSystem` over a SQLite file.

    Args:
        path: The database file.
        create: Create the file when it does not exist. Off by default so a
            mistyped path reports the order system as unavailable instead of
            silently serving an empty store.
        busy_timeout_seconds: How long a call waits for a lock held by
            another writer before the store counts as unavailable.
        today: The clock used for the dates of new returns (tests fix it).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        create: bool = False,
        busy_timeout_seconds: float = 2.0,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self.path = Path(path)
        self._create = create
        self._busy_timeout = busy_timeout_seconds
        self._today = today
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"SQLiteOrderSystem({str(self.path)!r})"

    async def get_order(self, order_id: str) -> Optional[Order]:
        return await self._run(lambda conn: read_order(conn, normalise_order_id(order_id)))

    async def find_orders_by_email(self, email: str) -> List[Order]:
        return await self._run(lambda conn: _orders_by_email(conn, normalise_email(email)))

    async def create_return(
        self,
        order_id: str,
        skus: Sequence[str],
        reason: str,
        condition: str,
        *,
        return_fee_cents: int = 0,
    ) -> ReturnRecord:
        oid = normalise_order_id(order_id)
        fee = _valid_fee(return_fee_cents)
        return await self._run(
            lambda conn: _create_return(
                conn, oid, list(skus), reason, condition, self._today(), fee
            ),
            write=True,
        )

    async def get_returns(self, order_id: str) -> List[ReturnRecord]:
        return await self._run(lambda conn: _returns_of(conn, _existing_order(conn, order_id)))

    async def cancel_order(self, order_id: str) -> Order:
        return await self._run(lambda conn: _cancel(conn, normalise_order_id(order_id)), write=True)

    async def _run(self, work: Callable[[sqlite3.Connection], T], write: bool = False) -> T:
        return await asyncio.to_thread(self._run_sync, work, write)

    def _run_sync(self, work: Callable[[sqlite3.Connection], T], write: bool) -> T:
        try:
            with closing(connect(self.path, self._create, self._busy_timeout)) as conn:
                if not self._schema_ready:
                    ensure_schema(conn)
                    self._schema_ready = True
                # IMMEDIATE takes the write lock up front, so the checks a
                # write makes still hold when it applies the change.
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = work(conn)
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
                return result
        except sqlite3.Error as exc:
            raise OrderSystemUnavailable(f"order database {self.path} failed: {exc}") from exc


# --- connections and schema (also used by the demo store seeder) -------------


def connect(
    path: PathLike, create: bool = False, busy_timeout_seconds: float = 2.0
) -> sqlite3.Connection:
    """Open the database; with ``create`` False the file must already exist.

    Raises:
        sqlite3.Error: The file cannot be opened (missing, unreadable).
    """
    mode = "rwc" if create else "rw"
    uri = f"{Path(path).absolute().as_uri()}?mode={mode}"
    # isolation_level=None: transactions are begun explicitly by the caller.
    conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_seconds, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the tables that are missing (a no-op on an existing store)."""
    conn.executescript(SCHEMA)


def insert_order(conn: sqlite3.Connection, order: Order) -> None:
    """Write one order and its items."""
    conn.execute(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            order.order_id,
            order.customer_name,
            order.email,
            order.postcode,
            order.status.value,
            _day(order.placed_on),
            _day(order.shipped_on),
            _day(order.delivered_on),
            _day(order.expected_delivery),
            order.carrier,
            order.tracking_number,
        ),
    )
    conn.executemany(
        "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (order.order_id, line, i.sku, i.name, i.quantity, i.unit_price_cents, int(i.final_sale))
            for line, i in enumerate(order.items, start=1)
        ],
    )


def insert_return(conn: sqlite3.Connection, record: ReturnRecord) -> None:
    """Write one return and the SKUs it covers."""
    conn.execute(
        "INSERT INTO returns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.return_id,
            record.order_id,
            record.reason,
            record.condition,
            record.status.value,
            _day(record.created_on),
            record.refund_cents,
            _day(record.refunded_on),
            json.dumps(list(record.notes)),
        ),
    )
    conn.executemany(
        "INSERT INTO return_items VALUES (?, ?)", [(record.return_id, sku) for sku in record.skus]
    )


def count_orders(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]


def read_order(conn: sqlite3.Connection, order_id: str) -> Optional[Order]:
    """The order with this (already normalised) id, or None."""
    row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    return _order(conn, row) if row else None


# --- reads -------------------------------------------------------------------


def _orders_by_email(conn: sqlite3.Connection, email: str) -> List[Order]:
    rows = conn.execute(
        "SELECT * FROM orders WHERE email = ? ORDER BY placed_on DESC, order_id DESC", (email,)
    ).fetchall()
    return [_order(conn, row) for row in rows]


def _existing_order(conn: sqlite3.Connection, order_id: str) -> Order:
    order = read_order(conn, normalise_order_id(order_id))
    if order is None:
        raise OrderNotFound(f"There is no order {normalise_order_id(order_id)}.")
    return order


def _returns_of(conn: sqlite3.Connection, order: Order) -> List[ReturnRecord]:
    rows = conn.execute(
        "SELECT * FROM returns WHERE order_id = ? ORDER BY created_on DESC, return_id DESC",
        (order.order_id,),
    ).fetchall()
    return [_return(conn, row) for row in rows]


def _order(conn: sqlite3.Connection, row: sqlite3.Row) -> Order:
    items = conn.execute(
        "SELECT * FROM order_items WHERE order_id = ? ORDER BY line_no", (row["order_id"],)
    ).fetchall()
    return Order(
        order_id=row["order_id"],
        customer_name=row["customer_name"],
        email=row["email"],
        postcode=row["postcode"],
        status=OrderStatus(row["status"]),
        placed_on=dt.date.fromisoformat(row["placed_on"]),
        items=tuple(_item(item) for item in items),
        shipped_on=_date(row["shipped_on"]),
        delivered_on=_date(row["delivered_on"]),
        expected_delivery=_date(row["expected_delivery"]),
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
    )


def _item(row: sqlite3.Row) -> OrderItem:
    return OrderItem(
        row["sku"], row["name"], row["quantity"], row["unit_price_cents"], bool(row["final_sale"])
    )


def _return(conn: sqlite3.Connection, row: sqlite3.Row) -> ReturnRecord:
    skus = conn.execute(
        "SELECT sku FROM return_items WHERE return_id = ? ORDER BY rowid", (row["return_id"],)
    ).fetchall()
    return ReturnRecord(
        return_id=row["return_id"],
        order_id=row["order_id"],
        skus=tuple(sku for (sku,) in skus),
        reason=row["reason"],
        status=ReturnStatus(row["status"]),
        created_on=dt.date.fromisoformat(row["created_on"]),
        refund_cents=row["refund_cents"],
        refunded_on=_date(row["refunded_on"]),
        condition=row["condition"],
        notes=tuple(json.loads(row["notes"] or "[]")),
    )


# --- writes ------------------------------------------------------------------


def _create_return(
    conn: sqlite3.Connection,
    order_id: str,
    skus: List[str],
    reason: str,
    condition: str,
    today: dt.date,
    return_fee_cents: int = 0,
) -> ReturnRecord:
    order = _existing_order(conn, order_id)
    if order.status is not OrderStatus.DELIVERED:
        raise RequestRejected(
            f"Order {order.order_id} is {_words(order.status)}; "
            "only delivered orders can be returned."
        )
    items = _items_to_return(order, skus)
    _reject_items_already_returned(_returns_of(conn, order), items)
    record = ReturnRecord(
        return_id=_next_return_id(conn),
        order_id=order.order_id,
        skus=tuple(item.sku for item in items),
        reason=reason,
        status=ReturnStatus.REQUESTED,
        created_on=today,
        # The fee comes off the items' price, but a refund is never negative.
        refund_cents=max(sum(item.total_cents for item in items) - return_fee_cents, 0),
        condition=condition,
    )
    insert_return(conn, record)
    return record


def _valid_fee(return_fee_cents: int) -> int:
    # bool is an int in Python but never an amount of money.
    if isinstance(return_fee_cents, bool) or not isinstance(return_fee_cents, int):
        raise RequestRejected("The return fee must be a whole number of cents.")
    if return_fee_cents < 0:
        raise RequestRejected("The return fee cannot be negative.")
    return return_fee_cents


def _items_to_return(order: Order, skus: Sequence[str]) -> List[OrderItem]:
    by_sku: Dict[str, OrderItem] = {item.sku.upper(): item for item in order.items}
    # dict.fromkeys drops repeats and keeps the customer's order.
    wanted = list(dict.fromkeys(str(sku).strip().upper() for sku in skus))
    if not wanted:
        raise RequestRejected("A return needs at least one item.")
    unknown = [sku for sku in wanted if sku not in by_sku]
    if unknown:
        raise RequestRejected(f"Order {order.order_id} has no item {', '.join(unknown)}.")
    return [by_sku[sku] for sku in wanted]


def _reject_items_already_returned(returns: List[ReturnRecord], items: List[OrderItem]) -> None:
    # A rejected return frees its items (the customer may try again, e.g. with
    # a photo); any other return still holds them, refunded ones included.
    for record in returns:
        if record.status is ReturnStatus.REJECTED:
            continue
        taken = [item.sku for item in items if item.sku in record.skus]
        if taken:
            verb = "is" if len(taken) == 1 else "are"
            raise RequestRejected(
                f"{', '.join(taken)} {verb} already part of return {record.return_id}."
            )


def _next_return_id(conn: sqlite3.Connection) -> str:
    (highest,) = conn.execute(
        "SELECT MAX(CAST(substr(return_id, 2) AS INTEGER)) FROM returns"
    ).fetchone()
    return f"R{max((highest or 0) + 1, FIRST_RETURN_NUMBER)}"


def _cancel(conn: sqlite3.Connection, order_id: str) -> Order:
    order = _existing_order(conn, order_id)
    if not order.status.cancellable:
        raise RequestRejected(
            f"Order {order.order_id} is {_words(order.status)} and can no longer be cancelled."
        )
    # A cancelled order will not arrive, so it keeps no expected delivery date.
    conn.execute(
        "UPDATE orders SET status = ?, expected_delivery = NULL WHERE order_id = ?",
        (OrderStatus.CANCELLED.value, order.order_id),
    )
    return _existing_order(conn, order.order_id)


# --- helpers -----------------------------------------------------------------


def _day(value: Optional[dt.date]) -> Optional[str]:
    return value.isoformat() if value else None


def _date(value: Optional[str]) -> Optional[dt.date]:
    return dt.date.fromisoformat(value) if value else None


def _words(status: OrderStatus) -> str:
    return status.value.replace("_", " ")
