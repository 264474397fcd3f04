"""Fixtures for the handoff tests: the store, outbox and auth on the session's real Redis, a fake
clock, and a fake Rasa HTTP API."""

from __future__ import annotations

import pytest

from handoff.core.auth import Auth
from handoff.core.store import HandoffStore
from tests.support.auth import FAST_SCRYPT_N, SECRET
from tests.support.clocks import FakeClock
from tests.support.fake_rasa import FakeRasa


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
def auth(redis_client):
    return Auth(
        redis_client,
        SECRET,
        token_ttl_seconds=600,
        max_failures=3,
        lockout_seconds=60,
        scrypt_n=FAST_SCRYPT_N,
    )


@pytest.fixture(scope="session")
def rasa_server():
    """One fake Rasa for the session (in a thread of its own: any event loop can call it)."""
    with FakeRasa.running() as rasa:
        yield rasa


@pytest.fixture
def fake_rasa(rasa_server):
    """The session's fake Rasa with no calls recorded and normal answers."""
    rasa_server.reset()
    return rasa_server
