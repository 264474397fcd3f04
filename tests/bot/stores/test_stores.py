"""Rasa's tracker and lock stores as endpoints.yml names them, on a real Redis that restarts."""

from __future__ import annotations

import redis
import yaml
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.stores import RedisLockStore, RedisTrackerStore
from handoff.core.settings import REPO_ROOT
from tests.support.redis_server import RedisProcess


def endpoints_section(name: str) -> EndpointConfig:
    """The project's own endpoints.yml section, as Rasa reads it."""
    return EndpointConfig.from_dict(yaml.safe_load((REPO_ROOT / "endpoints.yml").read_text())[name])


async def test_the_projects_stores_reach_redis_through_the_shared_builder(monkeypatch):
    durable = ["--appendonly", "yes", "--appendfsync", "always"]
    with RedisProcess(extra_args=durable) as server:
        # Where Redis is comes from REDIS_URL, not from url/port/db in endpoints.yml.
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{server.port}/3")
        trackers = TrackerStore.create(endpoints_section("tracker_store"), Domain.empty())
        locks = LockStore.create(endpoints_section("lock_store"))
        assert isinstance(locks, RedisLockStore)
        assert isinstance(trackers, RedisTrackerStore)
        assert isinstance(trackers.red.connection_pool, redis.BlockingConnectionPool)

        tracker = DialogueStateTracker.from_events("c-1", [UserUttered("hello")])
        await trackers.save(tracker)
        async with locks.lock("c-1"):
            pass
        server.restart()  # broken pooled connections: retried, no error for Rasa
        tracker.update(UserUttered("still there?"))
        await trackers.save(tracker)
        async with locks.lock("c-1"):
            pass
        again = await trackers.retrieve("c-1")
        assert [e.text for e in again.events if isinstance(e, UserUttered)] == [
            "hello",
            "still there?",
        ]
        with redis.Redis(port=server.port, db=3) as direct:
            assert direct.exists("rasa:tracker:c-1")
