"""Shared fixtures: a seeded SQLite demo store, and real HTTP servers on 127.0.0.1.

``orders`` is parametrised over both adapters, so every test that uses it
holds the SQLite store and the HTTP adapter (through the reference server
on top of that same store) to one contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, List

import pytest
from aiohttp import web

from actions.orders.adapter import OrderSystem
from actions.orders.demo_store import seed_demo_store
from actions.orders.http_client import HttpOrderSystem
from actions.orders.reference_server import create_app
from actions.orders.sqlite_store import SQLiteOrderSystem
from tests.support.orders import TODAY

Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    seed_demo_store(path, TODAY)
    return path


@pytest.fixture
def sqlite_orders(store_path: Path) -> SQLiteOrderSystem:
    return SQLiteOrderSystem(store_path, today=lambda: TODAY)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start aiohttp apps on free ports of 127.0.0.1 in the test's event loop; stop them after."""
    runners: List[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        # handler_cancellation: a handler the client gave up on (timeout tests) stops at once.
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def http_orders(sqlite_orders: SQLiteOrderSystem, serve: Serve) -> HttpOrderSystem:
    base_url = await serve(create_app(sqlite_orders))
    return HttpOrderSystem(base_url, timeout_seconds=5.0)


@pytest.fixture(params=["sqlite", "http"])
def orders(request: pytest.FixtureRequest) -> OrderSystem:
    """The same seeded store, reached directly or over HTTP."""
    return request.getfixturevalue(f"{request.param}_orders")
