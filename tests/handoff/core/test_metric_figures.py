"""The support lead's figures from samples (no Redis): buckets, filters, rates, backlog."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from handoff.core.metric_figures import (
    Filters,
    Samples,
    backlog,
    bucket_start,
    bucket_starts,
    count_buckets,
    figures,
    local_midnight,
    series,
)

NY = ZoneInfo("America/New_York")


def at(day: str, hour: int = 12, zone=NY) -> float:
    """Epoch seconds of ``hour`` o'clock on ``day`` (YYYY-MM-DD) in ``zone``."""
    y, m, d = (int(part) for part in day.split("-"))
    return dt.datetime(y, m, d, hour, tzinfo=zone).timestamp()


def test_days_start_at_local_midnight_across_a_dst_change():
    # 2023-11-05: New York falls back, the day is 25 hours long.
    starts = bucket_starts(at("2023-11-04"), at("2023-11-06", 1), "day", NY)
    assert [d.isoformat() for d in starts] == ["2023-11-04", "2023-11-05", "2023-11-06"]
    day = local_midnight(dt.date(2023, 11, 6), NY) - local_midnight(dt.date(2023, 11, 5), NY)
    assert day == 25 * 3600
    # 23:30 in New York is already the next day in UTC: the bucket follows the business zone.
    assert bucket_start(at("2023-11-14", 23), "day", NY).isoformat() == "2023-11-14"
    assert bucket_start(at("2023-11-14", 23), "day", dt.timezone.utc).isoformat() == "2023-11-15"


def test_weeks_start_on_monday():
    assert bucket_start(at("2023-11-19"), "week", NY).isoformat() == "2023-11-13"  # a Sunday
    assert bucket_start(at("2023-11-20", 0), "week", NY).isoformat() == "2023-11-20"
    assert count_buckets(at("2023-11-01"), at("2023-11-30"), "week", "America/New_York") == 5
    assert count_buckets(at("2023-11-01"), at("2023-11-30"), "day", "America/New_York") == 30
    with pytest.raises(ValueError, match="bucket"):
        bucket_start(at("2023-11-01"), "month", NY)


def test_empty_data_gives_every_bucket_with_no_rates():
    buckets = series(
        Samples(),
        since=at("2023-11-01", 0),
        until=at("2023-11-03", 23),
        bucket="day",
        timezone="America/New_York",
    )
    assert [b["start"] for b in buckets] == ["2023-11-01", "2023-11-02", "2023-11-03"]
    empty = buckets[0]
    assert empty["conversations"] == 0 and empty["containment_rate"] is None
    assert empty["first_contact_resolution"] is None and empty["reopen_rate"] is None
    assert empty["sla_attainment"] is None and empty["tickets_solved"] == 0
    assert empty["queue_wait_seconds"] == {"median": None, "p90": None, "count": 0}
    assert empty["csat"] == {"average": None, "count": 0}
    assert empty["end_at"] - empty["start_at"] == 86400


def test_rates():
    samples = Samples(
        started=[
            {"at": 1, "escalated": True},
            {"at": 1, "escalated": False},
            {"at": 1, "escalated": False},
            {"at": 1, "escalated": False},
        ],
        followups=[
            {"at": 1, "solved": True},
            {"at": 1, "solved": True},
            {"at": 1, "solved": False},
        ],
        reopens=[{"at": 1}],
        ticket_replies=[{"at": 1, "met": True}, {"at": 1, "met": False}],
        tickets_solved=[{"at": 1, "met": True}],
        csat=[{"at": 1, "score": 4}, {"at": 1, "score": 5}],
    )
    found = figures(samples)
    assert found["containment_rate"] == 0.75
    assert found["followups"] == {"answered": 3, "solved": 2}
    assert found["first_contact_resolution"] == pytest.approx(2 / 3)
    # one reopen out of four finished cases: three follow-ups answered, one ticket solved
    assert found["reopens"] == 1 and found["reopen_rate"] == 0.25
    # three SLA targets (two first replies, one resolution), two met
    assert found["sla"] == {"checked": 3, "met": 2}
    assert found["sla_attainment"] == pytest.approx(2 / 3)
    assert found["csat"] == {"average": 4.5, "count": 2}


def test_filters_by_reason_and_csr():
    samples = Samples(
        started=[{"at": 1, "escalated": True}],
        escalations=[{"at": 1, "reason": "complaint"}, {"at": 1, "reason": "request_human"}],
        waits=[
            {"at": 1, "wait": 10, "csr": "alice", "reason": "complaint"},
            {"at": 1, "wait": 50, "csr": "bob", "reason": "complaint"},
            {"at": 1, "wait": 99},  # written before samples had csr and reason
        ],
        followups=[
            {"at": 1, "solved": True, "csr": "alice", "reason": "complaint"},
            {"at": 1, "solved": False, "csr": "bob", "reason": "request_human"},
        ],
    )
    everything = figures(samples)
    assert everything["queue_wait_seconds"]["count"] == 3 and everything["escalations"] == 2
    by_reason = figures(samples, Filters(reason="complaint"))
    assert by_reason["queue_wait_seconds"] == {"median": 30.0, "p90": 50.0, "count": 2}
    assert by_reason["escalations"] == 1 and by_reason["first_contact_resolution"] == 1.0
    # the bot's own conversations have no reason or CSR: no containment under a filter
    assert by_reason["conversations"] is None and by_reason["containment_rate"] is None
    alice = figures(samples, Filters(csr="alice"))
    assert alice["queue_wait_seconds"]["count"] == 1 and alice["escalations"] is None
    both = figures(samples, Filters(reason="request_human", csr="alice"))
    assert both["followups"] == {"answered": 0, "solved": 0}


def test_series_puts_samples_in_their_week():
    samples = Samples(
        tickets_solved=[
            {"at": at("2023-11-13"), "met": True},  # Monday
            {"at": at("2023-11-19", 23), "met": False},  # Sunday night, same week
            {"at": at("2023-11-20", 0), "met": True},  # the next Monday
        ]
    )
    buckets = series(
        samples,
        since=at("2023-11-13", 0),
        until=at("2023-11-21"),
        bucket="week",
        timezone="America/New_York",
    )
    assert [(b["start"], b["tickets_solved"]) for b in buckets] == [
        ("2023-11-13", 2),
        ("2023-11-20", 1),
    ]
    assert buckets[0]["sla_attainment"] == 0.5


def test_backlog_ages_by_priority_and_filters():
    now = 10_000.0
    tickets = [
        {"created_at": now - 100, "priority": "urgent", "reason": "complaint", "assignee": "alice"},
        {"created_at": now - 300, "priority": "normal", "reason": "complaint", "assignee": None},
        {
            "created_at": now - 500,
            "priority": "normal",
            "reason": "return",
            "assignee": "bob",
            "breached": True,
        },
    ]
    found = backlog(tickets, now)
    assert found["count"] == 3
    assert found["breached"] == 1
    assert backlog(tickets, now, Filters(csr="alice"))["breached"] == 0
    assert found["age_seconds"] == {"count": 3, "median": 300.0, "oldest": 500.0}
    assert found["by_priority"]["normal"] == {"count": 2, "median": 400.0, "oldest": 500.0}
    assert found["by_priority"]["urgent"]["oldest"] == 100.0
    assert backlog(tickets, now, Filters(reason="complaint"))["count"] == 2
    assert backlog(tickets, now, Filters(csr="bob"))["age_seconds"]["oldest"] == 500.0
    assert backlog([], now) == {
        "count": 0,
        "breached": 0,
        "age_seconds": {"count": 0, "median": None, "oldest": None},
        "by_priority": {},
    }
