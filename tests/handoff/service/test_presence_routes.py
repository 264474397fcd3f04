"""An open console's live socket marks its CSR as online (handoff.core.presence).

A real Sanic server on the session's Redis; the socket's token recheck is made fast so the
refresh can be seen without waiting five seconds.
"""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from handoff.core import keys
from handoff.core.presence import Presence
from handoff.service import routes
from tests.support.handoff_api import running, service_config
from tests.support.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(redis_url):
    async with running(service_config(redis_url)) as served:
        yield served


@pytest.fixture
def fast_recheck(monkeypatch):
    monkeypatch.setattr(routes, "TOKEN_RECHECK_SECONDS", 0.05)


def socket_url(service, token):
    return service[1].replace("http", "ws") + "/api/events?token=" + token


async def test_nobody_is_online_without_an_open_console(api, tokens, redis_client):
    status, _ = await api.call("GET", "/api/queue", token=tokens["alice"])
    assert status == 200  # an API call alone is not a console
    assert await Presence(redis_client).online(60) == []


async def test_an_open_console_marks_its_csr_online_and_keeps_refreshing(
    api, service, tokens, redis_client, fast_recheck
):
    presence = Presence(redis_client)
    async with api.session.ws_connect(socket_url(service, tokens["alice"])) as ws:
        assert (await ws.receive_json(timeout=2))["type"] == "hello"
        assert await presence.online(60) == ["alice"]  # marked on connect
        await redis_client.delete(keys.PRESENCE)
        await eventually(lambda: presence.anyone_online(60))  # and on each token recheck
        async with api.session.ws_connect(socket_url(service, tokens["root"])) as admin:
            assert (await admin.receive_json(timeout=2))["type"] == "hello"
            assert sorted(await presence.online(60)) == ["alice", "root"]  # admins take chats
    await asyncio.sleep(0.2)  # the handler notices the close
    await redis_client.delete(keys.PRESENCE)
    await asyncio.sleep(0.3)  # several rechecks' worth: nobody refreshes a closed console
    assert await presence.online(60) == []
