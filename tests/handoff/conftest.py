"""Fixtures for the handoff tests: clients on the session's real Redis, a fake clock."""

from __future__ import annotations

import pytest

from handoff.core.auth import Auth
from handoff.core.outbox import Outbox
from handoff.core.store import HandoffStore
from tests.support.redis_server import async_client

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
# Real scrypt, cheaper cost: logins are most of the API tests' time otherwise.
# test_auth checks the production parameters separately.
FAST_SCRYPT_N = 2**10


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def redis_client(redis_db):
    async with async_client(redis_db) as client:
        yield client


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store(redis_client, clock):
    return HandoffStore(
        redis_client,
        priorities={"frustrated": "high", "complaint": "urgent"},
        default_wait_seconds=60,
        clock=clock,
    )


@pytest.fixture
def outbox(redis_client):
    return Outbox(redis_client)


@pytest.fixture
def auth(redis_client):
    return Auth(
        redis_client,
        SECRET,
        token_ttl_seconds=600,
        max_failures=3,
        lockout_seconds=60,
        scrypt_n=FAST_SCRYPT_N,
    )


# ---- a real (tiny) Rasa HTTP API that records what it is asked --------------------------------


class FakeRasa:
    """Answers Rasa's tracker-events and trigger-intent endpoints and records every call."""

    def __init__(self, token: str = "rasa-token"):
        self.token = token
        self.calls = []
        self.down = False
        self.greeting = [{"recipient_id": "x", "text": "Hi again! How can I help?"}]
        self.url = ""
        self._runner = None

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/conversations/{conv_id}/tracker/events", self._events)
        app.router.add_post("/conversations/{conv_id}/execute", self._trigger)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    def paths(self):
        return [c["path"] for c in self.calls]

    async def _events(self, request):
        return await self._answer(request, {"events": None})

    async def _trigger(self, request):
        return await self._answer(request, {"tracker": {}, "messages": self.greeting})

    async def _answer(self, request, body):
        from aiohttp import web

        if request.query.get("token") != self.token:
            return web.json_response({"message": "unauthorized"}, status=401)
        if self.down:
            return web.json_response({"message": "boom"}, status=500)
        self.calls.append(
            {
                "path": request.rel_url.raw_path,
                "query": dict(request.query),
                "json": await request.json(),
            }
        )
        return web.json_response(body)


@pytest.fixture
async def fake_rasa():
    rasa = FakeRasa()
    await rasa.start()
    yield rasa
    await rasa.stop()
