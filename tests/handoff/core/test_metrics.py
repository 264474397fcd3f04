"""Metrics against a real Redis: samples written by the store and the sample writers, read back
as the summary, as day and week series with filters, and the ticket backlog."""

from __future__ import annotations

import json

import pytest

from handoff.core import keys, metrics

ZONE = "America/New_York"
DAY = 86400.0


async def serve(store, clock, conv_id, *, csr, reason, wait=30.0):
    """One escalated conversation: claimed after ``wait`` s, answered, closed, rated 4."""
    await store.escalate(conv_id, reason)
    clock.advance(wait)
    await store.claim(conv_id, csr)
    clock.advance(10)
    await store.record_csr_message(conv_id, csr, "hello")
    await store.close(conv_id, "solved", by=csr)
    await store.set_csat(conv_id, 4)


async def record(redis, write):
    """Write samples the way the other modules do: inside a MULTI pipeline."""
    async with redis.pipeline(transaction=True) as pipe:
        write(pipe)
        await pipe.execute()


async def test_series_by_day_with_filters(store, clock, redis_client):
    start = clock()
    await store.note_conversation_started("bot-only")
    await serve(store, clock, "c1", csr="alice", reason="complaint", wait=20)
    first_day_end = clock()

    clock.advance(DAY)
    await serve(store, clock, "c2", csr="bob", reason="request_human", wait=60)
    now = clock()
    await record(
        redis_client,
        lambda pipe: (
            metrics.followup_answered(
                pipe, "c2", kind="conversation", solved=False, resolver="csr", csr="bob",
                reason="request_human", at=now,
            ),
            metrics.reopened(
                pipe, "c2", kind="conversation", csr="bob", reason="request_human", at=now
            ),
            metrics.ticket_first_reply(
                pipe, "T-1", seconds=600, met=True, csr="bob", reason="request_human",
                priority="normal", at=now,
            ),
            metrics.ticket_solved(
                pipe, "T-1", seconds=9000, met=False, first_reply_met=True, csr="bob",
                reason="request_human", priority="normal", at=now,
            ),
        ),
    )  # fmt: skip

    found = await metrics.series(
        redis_client, since=start, until=now + 1, bucket="day", timezone=ZONE
    )
    first, second = found["buckets"]
    assert first["conversations"] == 2 and first["containment_rate"] == 0.5
    assert first["queue_wait_seconds"]["median"] == 20.0 and first["csat"]["count"] == 1
    assert second["conversations"] == 1 and second["escalations"] == 1
    assert second["first_contact_resolution"] == 0.0
    # one reopen over two finished cases (the follow-up answered, the ticket solved)
    assert second["reopen_rate"] == 0.5
    assert second["sla"] == {"checked": 2, "met": 1} and second["tickets_solved"] == 1
    assert found["totals"]["conversations"] == 3
    assert found["choices"] == {"reasons": ["complaint", "request_human"], "csrs": ["alice", "bob"]}

    alice = await metrics.series(
        redis_client, since=start, until=now + 1, csr="alice", timezone=ZONE
    )
    assert [b["queue_wait_seconds"]["count"] for b in alice["buckets"]] == [1, 0]
    assert [b["csat"]["count"] for b in alice["buckets"]] == [1, 0]
    assert alice["totals"]["first_reply_seconds"]["median"] == 30.0  # 20 s wait + 10 s
    assert alice["totals"]["reopens"] == 0 and alice["csr"] == "alice"
    complaints = await metrics.series(
        redis_client, since=start, until=first_day_end + 1, reason="complaint", timezone=ZONE
    )
    assert complaints["totals"]["escalations"] == 1
    assert complaints["totals"]["containment_rate"] is None


async def test_weeks_and_the_range_ends(store, clock, redis_client):
    start = clock()  # a Tuesday
    for day in range(8):
        await serve(store, clock, f"w{day}", csr="alice", reason="complaint")
        clock.advance(DAY)
    found = await metrics.series(
        redis_client, since=start, until=clock(), bucket="week", timezone=ZONE
    )
    assert [b["queue_wait_seconds"]["count"] for b in found["buckets"]] == [6, 2]
    assert found["buckets"][0]["start"] == "2023-11-13"  # that week's Monday
    # `until` is exclusive, `since` inclusive
    later = await metrics.series(
        redis_client, since=start + DAY, until=start + 2 * DAY, timezone=ZONE
    )
    assert later["totals"]["queue_wait_seconds"]["count"] == 1


async def test_summary_has_the_new_figures(store, clock, redis_client):
    await serve(store, clock, "c1", csr="alice", reason="complaint")
    await record(
        redis_client,
        lambda pipe: metrics.followup_answered(
            pipe, "c1", kind="conversation", solved=True, resolver="csr", csr="alice",
            reason="complaint", at=clock(),
        ),
    )  # fmt: skip
    found = await store.metrics()
    assert found["first_contact_resolution"] == 1.0 and found["reopen_rate"] == 0.0
    assert found["sla_attainment"] is None and found["tickets_solved"] == 0
    assert found["escalations_by_reason"] == {"complaint": 1} and found["queue_length"] == 0


async def test_samples_from_before_csr_and_reason_are_still_read(store, clock, redis_client):
    # As the store wrote them before: no csr, no reason.
    old_wait = json.dumps({"conv": "old", "wait": 40, "position": 1, "at": clock()})
    old_rating = json.dumps({"conv": "old", "closed_at": clock(), "score": 2}, sort_keys=True)
    await redis_client.zadd(keys.METRICS_WAITS, {old_wait: clock()})
    await redis_client.zadd(keys.METRICS_CSAT, {old_rating: clock()})
    summary = await store.metrics()
    assert summary["queue_wait_seconds"]["count"] == 1 and summary["csat"]["average"] == 2.0
    filtered = await metrics.series(
        redis_client, since=clock() - 1, until=clock() + 1, csr="alice", timezone=ZONE
    )
    assert filtered["totals"]["queue_wait_seconds"]["count"] == 0


async def test_a_re_rating_replaces_the_tagged_sample(store, clock):
    await serve(store, clock, "c1", csr="alice", reason="complaint")
    await store.set_csat("c1", 1)
    assert (await store.metrics())["csat"] == {"average": 1.0, "count": 1}


@pytest.mark.parametrize("bucket", ["day", "week"])
async def test_no_samples(redis_client, bucket):
    found = await metrics.series(
        redis_client, since=0.0, until=20 * DAY, bucket=bucket, timezone="UTC"
    )
    # until is exclusive: 1970-01-01 (a Thursday) to 1970-01-20, in 20 days or 4 weeks
    assert len(found["buckets"]) == (20 if bucket == "day" else 4)
    assert found["totals"]["conversations"] == 0 and found["choices"]["csrs"] == []
