"""Session-wide fixtures: a real Redis server, started once per test run."""

from __future__ import annotations

import pytest
import redis

from tests.redis_server import running_redis


@pytest.fixture(scope="session")
def redis_url() -> str:
    with running_redis() as url:
        yield url


@pytest.fixture
def redis_db(redis_url):
    """A clean database for one test (the server is shared by the session)."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield redis_url
    client.flushdb()
    client.close()
