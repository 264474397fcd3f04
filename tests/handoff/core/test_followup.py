"""The follow-up question's records, answers and metrics, on the real Redis of the test run."""

from __future__ import annotations

import json

import pytest

from handoff.core import followup, keys
from handoff.core.errors import Conflict, InvalidInput
from handoff.core.followup import Followups


@pytest.fixture
def followups(redis_client, store, clock):
    return Followups(redis_client, store, ttl_seconds=3600, clock=clock)


async def samples(redis, key):
    return [json.loads(m) for m in await redis.zrange(key, 0, -1)]


async def test_a_yes_to_a_bot_flow_counts_as_solved_and_asks_for_csat_once(
    followups, redis_client, clock
):
    message = await followups.ask("c1", resolver="bot", reason="order_status")
    assert message["kind"] == "followup_request" and message["text"] == "Did that solve it?"
    assert [b["payload"] for b in message["buttons"]] == [
        '/followup_answer{"solved": true}',
        '/followup_answer{"solved": false}',
    ]
    assert await followups.pending("c1") == {
        "resolver": "bot",
        "csr": None,
        "reason": "order_status",
        "asked_at": clock(),
    }
    assert 0 < await redis_client.ttl(keys.followup("c1")) <= 3600
    answer = await followups.answer("c1", True)
    assert answer.solved and answer.ask_csat and answer.resolver == "bot"
    assert answer.replies()[0]["kind"] == "followup_thanks"
    assert await followups.pending("c1") is None
    [sample] = await samples(redis_client, keys.METRICS_FOLLOWUPS)
    assert sample == {
        "subject": "c1",
        "kind": "conversation",
        "solved": True,
        "resolver": "bot",
        "csr": None,
        "reason": "order_status",
        "at": clock(),
    }
    assert await redis_client.zcard(keys.METRICS_REOPENS) == 0
    # The bot-finished case is rated here (there is no closed handoff record to rate).
    assert await followups.csat_for("c1") == "bot"
    assert await followups.rate("c1", 4) == 4
    await followups.rate("c1", 5)  # a re-rating replaces the sample
    [rating] = await samples(redis_client, keys.METRICS_CSAT)
    assert rating["score"] == 5 and rating["conv"] == "c1"
    # A second flow in the same conversation: asked again, but CSAT only once.
    await followups.ask("c1", resolver="bot", reason="refund_status")
    again = await followups.answer("c1", True)
    assert not again.ask_csat


async def test_a_no_is_a_reopen_and_offers_a_person(followups, redis_client):
    await followups.ask("c2", resolver="bot", reason="return")
    answer = await followups.answer("c2", False)
    assert not answer.solved and not answer.ask_csat
    [offer] = answer.replies()
    assert offer["buttons"] == [{"title": "Talk to a person", "payload": "/request_human"}]
    [reopen] = await samples(redis_client, keys.METRICS_REOPENS)
    assert reopen["subject"] == "c2" and reopen["kind"] == "conversation"
    assert reopen["reason"] == "return"
    with pytest.raises(Conflict) as refused:
        await followups.answer("c2", True)  # answered already
    assert refused.value.code == "no_followup"
    with pytest.raises(Conflict) as refused:
        await followups.rate("c2", 3)
    assert refused.value.code == "cannot_rate"


async def test_after_a_csr_close_csat_follows_any_answer_until_rated(followups, store):
    await store.escalate("c3", "complaint")
    await store.claim("c3", "alice")
    await store.close("c3", "refund_issued", by="alice")
    await followups.ask("c3", resolver="csr", csr="alice", reason="complaint")
    answer = await followups.answer("c3", False)
    assert answer.ask_csat and answer.csr == "alice" and answer.resolver == "csr"
    assert await followups.csat_for("c3") == "csr"
    await store.set_csat("c3", 2)
    await followups.ask("c3", resolver="csr", csr="alice", reason="complaint")
    assert not (await followups.answer("c3", True)).ask_csat  # rated already


async def test_events_are_published_for_webhooks(followups, redis_client):
    await followups.ask("c4", resolver="bot", reason="cancellation")
    await followups.answer("c4", True)
    [(_, fields)] = await redis_client.xrange(keys.WEBHOOK_EVENTS)
    event = json.loads(fields["event"])
    assert event["type"] == "followup.answered" and event["solved"] is True


async def test_refusals(followups):
    with pytest.raises(Conflict):
        await followups.answer("never-asked", True)
    with pytest.raises(InvalidInput):
        await followups.ask("c1", resolver="robot", reason="x")
    with pytest.raises(InvalidInput):
        await followups.ask("bad id", resolver="bot", reason="x")
    with pytest.raises(InvalidInput):
        await followups.rate("c1", 6)


def test_parsing_answers():
    assert followup.parse_answer('/followup_answer{"solved": true}') is True
    assert followup.parse_answer(' /followup_answer{"solved": false} ') is False
    assert followup.parse_answer("no") is None  # typed words only while the question is newest
    assert followup.parse_answer("No", typed_answers=True) is False
    assert followup.parse_answer("yes", typed_answers=True) is True
    assert followup.parse_answer("where is my order", typed_answers=True) is None
    for bad in ("/followup_answer", '/followup_answer{"solved": "yes"}', "/followup_answer{"):
        with pytest.raises(InvalidInput):
            followup.parse_answer(bad)
    assert followup.is_request(followup.buttons())
    assert not followup.is_request([{"title": "x", "payload": "/affirm"}])
    assert not followup.is_request([])
