"""Which CSRs have a console open, on the real Redis of the test run and a fake clock."""

from __future__ import annotations

import pytest

from handoff.core import keys
from handoff.core.errors import InvalidInput
from handoff.core.presence import KEEP_SECONDS, Presence, takes_chats


@pytest.fixture
def presence(redis_client, clock):
    return Presence(redis_client, clock=clock)


async def test_nobody_is_online_until_a_console_is_seen(presence):
    assert await presence.online(60) == []
    assert await presence.anyone_online(60) is False


async def test_a_console_counts_for_within_seconds_after_it_was_last_seen(presence, clock):
    await presence.seen("alice")
    clock.advance(20)
    await presence.seen("bob")
    assert await presence.online(60) == ["alice", "bob"]  # the longest unseen first
    clock.advance(40)  # alice seen exactly 60 s ago: still in
    assert await presence.online(60) == ["alice", "bob"]
    clock.advance(1)
    assert await presence.online(60) == ["bob"]
    await presence.seen("alice")  # her console refreshed
    assert await presence.online(60) == ["bob", "alice"]
    clock.advance(61)  # both consoles closed a minute ago
    assert await presence.online(60) == []
    assert await presence.anyone_online(60) is False
    assert await presence.anyone_online(120) is True


async def test_stale_marks_are_trimmed_and_the_key_expires(presence, redis_client, clock):
    await presence.seen("alice")
    clock.advance(KEEP_SECONDS + 1)
    await presence.seen("bob")
    assert await redis_client.zrange(keys.PRESENCE, 0, -1) == ["bob"]
    assert 0 < await redis_client.ttl(keys.PRESENCE) <= KEEP_SECONDS


async def test_usernames_are_checked(presence, redis_client):
    for bad in ("", "a b", "x" * 129, None):
        with pytest.raises(InvalidInput):
            await presence.seen(bad)
    assert not await redis_client.exists(keys.PRESENCE)


def test_csr_and_admin_accounts_take_chats():
    assert takes_chats("csr") and takes_chats("admin")
    assert not takes_chats("viewer")
