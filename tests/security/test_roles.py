"""Roles on the real stack: a CSR token gets 403 on every admin-only route.

The routes come from the service's own router, so a route added under ``/api/admin/`` is
covered without touching this file; admin-only routes elsewhere are listed here.
"""

from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request

import pytest
import redis.asyncio as aioredis

from handoff.core import keys
from handoff.core.settings import from_mapping
from handoff.service.app import create_app
from tests.support.auth import SECRET
from tests.support.clients import call
from tests.support.security import create_account, login

ADMIN_PREFIX = "/api/admin/"
ADMIN_ONLY_ELSEWHERE = {
    ("GET", "/api/metrics"),
    ("GET", "/api/metrics/series"),
    ("PUT", "/api/availability"),
    ("DELETE", "/api/availability"),
}


def served_routes():
    """(method, path with sample parameters) of every route the service serves."""
    app = create_app(from_mapping({"secret": SECRET}))
    found = set()
    for route in app.router.routes:
        path = "/" + re.sub(r"<(\w+):\w+>", r"sample-\1", route.path)
        found |= {(m, path) for m in route.methods if m not in ("HEAD", "OPTIONS")}
    return found


def admin_only_routes():
    return sorted(
        (method, path)
        for method, path in served_routes()
        if path.startswith(ADMIN_PREFIX) or (method, path) in ADMIN_ONLY_ELSEWHERE
    )


def test_the_admin_routes_are_found():
    routes = admin_only_routes()
    assert ("GET", "/api/metrics") in routes
    assert len([r for r in routes if r[1].startswith(ADMIN_PREFIX)]) >= 9
    assert ADMIN_ONLY_ELSEWHERE <= set(served_routes())  # no stale entry


@pytest.mark.parametrize(("method", "path"), admin_only_routes())
def test_a_csr_gets_403_on_every_admin_route(stack, csr_token, method, path):
    body = None if method in ("GET", "DELETE") else {}
    status, answer = call(method, f"{stack.handoff_url}{path}", body, csr_token)
    assert status == 403, answer
    assert answer["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path"), [r for r in admin_only_routes() if r[0] == "GET"])
def test_an_admin_passes_the_role_check(stack, admin_token, method, path):
    # Only the reads: the writes would start trainings and switch models. The status alone:
    # the exports answer CSV, not JSON.
    request = urllib.request.Request(f"{stack.handoff_url}{path}", method=method)
    request.add_header("Authorization", f"Bearer {admin_token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, answer = response.status, response.read(200)
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read(200)
    assert status != 403, answer
    assert status < 500, answer


def test_the_role_is_read_from_the_account_not_the_token(stack):
    username = create_account(stack, "admin")
    token = login(stack.handoff_url, username)
    assert call("GET", f"{stack.handoff_url}/api/metrics", token=token)[0] == 200

    async def demote():
        client = aioredis.from_url(stack.redis_url, decode_responses=True)
        try:
            await client.hset(keys.account(username), "role", "csr")
        finally:
            await client.close()

    asyncio.run(demote())
    status, answer = call("GET", f"{stack.handoff_url}/api/metrics", token=token)
    assert status == 403, answer
