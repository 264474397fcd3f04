"""Team away mode on the real Redis of the test run."""

from __future__ import annotations

import json

import pytest

from handoff.core import keys
from handoff.core.availability import DEFAULT_MESSAGE, Availability
from handoff.core.errors import InvalidInput


@pytest.fixture
def availability(redis_client, clock):
    return Availability(redis_client, clock=clock)


async def published(redis):
    return [json.loads(f["event"]) for _, f in await redis.xrange(keys.WEBHOOK_EVENTS)]


async def test_away_and_back(availability, redis_client, clock):
    assert await availability.away() is None
    assert await availability.clear("root") is False  # not away: nothing to announce
    since = clock()
    away = await availability.set_away("root", "Back at 2 pm after the team meeting.")
    assert away == {"by": "root", "message": "Back at 2 pm after the team meeting.", "since": since}
    assert await availability.away() == away
    clock.advance(60)
    changed = await availability.set_away("ada", "  ")  # a new message keeps the start
    assert changed == {"by": "ada", "message": DEFAULT_MESSAGE, "since": since}
    assert await availability.clear("root") is True
    assert await availability.away() is None
    kinds = [(e["type"], e["by"]) for e in await published(redis_client)]
    assert kinds == [("team.away", "root"), ("team.away", "ada"), ("team.back", "root")]


async def test_the_message_is_checked(availability):
    for bad in ("x" * 501, "bell\x07", 42):
        with pytest.raises(InvalidInput):
            await availability.set_away("root", bad)
    assert await availability.away() is None
