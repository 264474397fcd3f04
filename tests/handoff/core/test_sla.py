"""Business-hours arithmetic and the SLA policy: weekends, nights, DST and 24/7 teams."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from handoff.core.errors import ConfigError, InvalidInput
from handoff.core.settings import WEEKDAYS, BusinessHours, TicketsConfig, TicketSla, from_mapping
from handoff.core.sla import (
    HOUR,
    SlaPolicy,
    add_business_seconds,
    business_seconds_between,
)

NY = "America/New_York"
OFFICE = BusinessHours(timezone=NY)  # Mon-Fri 09:00-18:00
ALWAYS = BusinessHours(timezone=NY, weekdays=WEEKDAYS, open=dt.time(0), close=dt.time(0))


def at(text: str, zone: str = NY) -> float:
    """Epoch seconds of a local wall-clock time (``2026-03-06 17:00``)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def local(ts: float, zone: str = NY) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def test_time_inside_one_day_is_counted_as_is():
    start = at("2026-03-04 10:00")  # a Wednesday
    assert local(add_business_seconds(OFFICE, start, 2 * HOUR)) == "2026-03-04 12:00"
    assert business_seconds_between(OFFICE, start, at("2026-03-04 12:30")) == 2.5 * HOUR


def test_the_clock_stops_at_closing_and_runs_again_at_the_next_opening():
    start = at("2026-03-04 17:00")
    assert local(add_business_seconds(OFFICE, start, 2 * HOUR)) == "2026-03-05 10:00"


def test_a_ticket_opened_on_friday_evening_is_due_on_monday():
    friday_evening = at("2026-03-06 20:00")
    assert local(add_business_seconds(OFFICE, friday_evening, 8 * HOUR)) == "2026-03-09 17:00"
    # The weekend counts for nothing, whichever way it is measured.
    assert business_seconds_between(OFFICE, friday_evening, at("2026-03-09 09:00")) == 0
    assert business_seconds_between(OFFICE, at("2026-03-06 17:00"), at("2026-03-09 10:00")) == (
        2 * HOUR
    )


def test_the_night_before_opening_counts_from_the_opening():
    assert local(add_business_seconds(OFFICE, at("2026-03-04 03:00"), HOUR)) == "2026-03-04 10:00"


def test_ending_exactly_at_closing_stays_on_that_day():
    start = at("2026-03-04 09:00")
    assert local(add_business_seconds(OFFICE, start, 9 * HOUR)) == "2026-03-04 18:00"
    assert local(add_business_seconds(OFFICE, start, 9 * HOUR + 1)) == "2026-03-05 09:00"


def test_a_multi_day_target_skips_every_weekend():
    # 40 business hours = 4 days and 4 hours of a 9-hour day, from Thursday 09:00.
    due = add_business_seconds(OFFICE, at("2026-03-05 09:00"), 40 * HOUR)
    assert local(due) == "2026-03-11 13:00"
    assert business_seconds_between(OFFICE, at("2026-03-05 09:00"), due) == 40 * HOUR


def test_office_hours_keep_their_wall_clock_across_the_dst_change():
    # New York springs forward on Sunday 8 March 2026: Monday still opens at 09:00 local.
    due = add_business_seconds(OFFICE, at("2026-03-06 17:00"), 2 * HOUR)
    assert local(due) == "2026-03-09 10:00"
    assert due - at("2026-03-06 17:00") == (65 - 1) * HOUR  # a 71-hour weekend, one hour short


def test_a_24_7_team_counts_the_real_length_of_a_dst_day():
    saturday = at("2026-03-07 12:00")
    sunday = at("2026-03-08 12:00")  # 23 hours later on the clock of the world
    assert business_seconds_between(ALWAYS, saturday, sunday) == 23 * HOUR
    assert add_business_seconds(ALWAYS, saturday, 23 * HOUR) == sunday
    # And the autumn day lasts 25 hours.
    assert business_seconds_between(ALWAYS, at("2026-10-31 12:00"), at("2026-11-01 12:00")) == (
        25 * HOUR
    )


def test_24_7_on_some_weekdays_only():
    weekdays = BusinessHours(timezone=NY, open=dt.time(0), close=dt.time(0))
    friday_noon = at("2026-03-06 12:00")
    assert local(add_business_seconds(weekdays, friday_noon, 24 * HOUR)) == "2026-03-09 12:00"


def test_other_time_zones_and_nothing_before_the_start():
    berlin = BusinessHours(timezone="Europe/Berlin", open=dt.time(8), close=dt.time(16))
    start = at("2026-03-27 15:00", "Europe/Berlin")  # Friday; Berlin changes on 29 March
    due = add_business_seconds(berlin, start, 2 * HOUR)
    assert local(due, "Europe/Berlin") == "2026-03-30 09:00"
    assert business_seconds_between(berlin, start, start) == 0
    assert business_seconds_between(berlin, due, start) == 0
    assert add_business_seconds(berlin, start, 0) == start


def test_no_open_day_is_a_configuration_error():
    with pytest.raises(ConfigError):
        add_business_seconds(BusinessHours(weekdays=()), 0.0, HOUR)


def test_the_policy_gives_due_times_per_priority():
    policy = SlaPolicy(OFFICE, TicketsConfig().sla)
    opened = at("2026-03-04 10:00")
    assert local(policy.first_reply_due("urgent", opened)) == "2026-03-04 11:00"
    assert local(policy.first_reply_due("normal", opened)) == "2026-03-04 18:00"
    assert local(policy.first_reply_due("high", opened)) == "2026-03-04 14:00"
    assert local(policy.resolution_due("high", opened)) == "2026-03-06 16:00"
    # 80 h: the 8 h left on Wednesday, then eight whole 9-hour days.
    assert local(policy.resolution_due("low", opened)) == "2026-03-16 18:00"
    assert policy.business_seconds(opened, at("2026-03-05 10:00")) == 9 * HOUR
    assert policy.to_dict()["high"] == {"first_reply_hours": 4.0, "resolution_hours": 24.0}
    with pytest.raises(InvalidInput):
        policy.first_reply_due("whenever", opened)


def test_a_policy_needs_targets_for_every_priority():
    with pytest.raises(ConfigError):
        SlaPolicy(OFFICE, {"normal": TicketSla(8, 40)})


def test_settings_override_some_targets_and_refuse_nonsense():
    config = from_mapping({"tickets": {"sla": {"urgent": {"first_reply_hours": 0.5}}}})
    assert config.tickets.sla["urgent"] == TicketSla(0.5, 8.0)
    assert config.tickets.sla["low"] == TicketSla(24.0, 80.0)
    for bad in (
        {"sla": {"someday": {"first_reply_hours": 1}}},
        {"sla": {"high": {"first_reply_hours": 0}}},
        {"sla": {"high": {"first_reply_hours": 30, "resolution_hours": 10}}},
        {"sla": {"high": {"first_reply": 1}}},
        {"sla": ["high"]},
        {"targets": {}},
    ):
        with pytest.raises(ConfigError):
            from_mapping({"tickets": bad})
