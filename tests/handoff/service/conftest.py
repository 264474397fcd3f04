"""Fixtures for the API tests: a client of the module's running service, and staff logged in.

Each module serves the service once (its ``service`` fixture: ``running(service_config(...))``
from tests/support/handoff_api.py, yielding (app, base URL)); ``api`` gives every test an empty
Redis database and an HTTP session of its own on it. A module that resets more for each test
(the project, the fake Rasa, the SMTP server) overrides ``api`` with a fixture asking for both,
and one that needs other accounts overrides ``tokens``.
"""

from __future__ import annotations

import aiohttp
import pytest_asyncio

from tests.support.handoff_api import Api, staff_tokens


@pytest_asyncio.fixture(loop_scope="module")
async def api(service, redis_db):
    async with aiohttp.ClientSession() as session:
        yield Api(service[1], session)


@pytest_asyncio.fixture(loop_scope="module")
async def tokens(api, redis_client):
    """Tokens of alice (a CSR) and root (an admin), by username."""
    return await staff_tokens(api, redis_client, "alice", "root")
