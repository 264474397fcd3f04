"""Service-level targets for tickets, counted in business hours.

A ticket opened on Friday evening with an 8-hour first-reply target is due on Monday
afternoon, not on Saturday morning: the clock only runs while the team is at work
(:class:`~handoff.core.settings.BusinessHours`: a time zone, open weekdays and an
opening and closing time; ``open == close`` means around the clock on the open days).

Pure functions over epoch seconds, so the ticket desk, the console's API and the tests
share one arithmetic. Each day's window is built in the team's time zone and then turned
into epoch seconds, so a day with a daylight-saving change has its real length: a 24/7
team's Sunday in March lasts 23 hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Dict, Iterator, Mapping, Optional, Tuple
from zoneinfo import ZoneInfo

from handoff.core.conversation import PRIORITIES, check_priority
from handoff.core.errors import ConfigError
from handoff.core.settings import WEEKDAYS, BusinessHours, TicketSla

HOUR = 3600.0

Window = Tuple[float, float]


def add_business_seconds(hours: BusinessHours, start: float, seconds: float) -> float:
    """The moment ``seconds`` of business time after ``start`` (epoch seconds).

    Time outside business hours does not count: starting at night, the count begins at
    the next opening.

    Raises:
        ConfigError: the business hours have no open weekday (no target can ever be met).
    """
    if seconds <= 0:
        return start
    remaining = float(seconds)
    for opens, closes in _windows(hours, start):
        begin = max(opens, start)
        if begin >= closes:
            continue
        if remaining <= closes - begin:
            return begin + remaining
        remaining -= closes - begin
    raise AssertionError("unreachable: _windows never ends")  # pragma: no cover


def business_seconds_between(hours: BusinessHours, start: float, end: float) -> float:
    """Business seconds from ``start`` to ``end`` (0 when ``end`` is not after ``start``).

    Raises:
        ConfigError: the business hours have no open weekday.
    """
    if end <= start:
        return 0.0
    total = 0.0
    for opens, closes in _windows(hours, start):
        if opens >= end:
            break
        total += max(0.0, min(closes, end) - max(opens, start))
    return total


def _windows(hours: BusinessHours, start: float) -> Iterator[Window]:
    """Each open day's (opens, closes) in epoch seconds, from the local day of ``start`` on."""
    if not hours.weekdays:
        raise ConfigError("business_hours.weekdays is empty: no SLA target can ever be met")
    zone = ZoneInfo(hours.timezone)
    day = dt.datetime.fromtimestamp(start, zone).date()
    while True:
        window = _window(hours, day, zone)
        if window is not None:
            yield window
        day += dt.timedelta(days=1)


def _window(hours: BusinessHours, day: dt.date, zone: ZoneInfo) -> Optional[Window]:
    if WEEKDAYS[day.weekday()] not in hours.weekdays:
        return None
    if hours.open == hours.close:
        # Around the clock: local midnight to the next local midnight (23 or 25 hours
        # on the days the clocks change).
        opens = dt.datetime.combine(day, dt.time(0), zone)
        closes = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
    else:
        opens = dt.datetime.combine(day, hours.open, zone)
        closes = dt.datetime.combine(day, hours.close, zone)
    return opens.timestamp(), closes.timestamp()


@dataclass(frozen=True)
class SlaPolicy:
    """First-reply and resolution targets per priority, in business hours.

    Attributes:
        hours: When the team works; only that time counts.
        targets: Priority -> target; every priority of
            :data:`~handoff.core.conversation.PRIORITIES` needs one.
    """

    hours: BusinessHours = field(default_factory=BusinessHours)
    targets: Mapping[str, TicketSla] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse a policy that leaves a priority without targets.

        Raises:
            ConfigError: a priority has no target.
        """
        missing = [p for p in PRIORITIES if p not in self.targets]
        if missing:
            raise ConfigError(f"tickets.sla has no targets for {', '.join(missing)}")

    def target(self, priority: str) -> TicketSla:
        """The targets of one priority.

        Raises:
            InvalidInput: not a priority.
        """
        return self.targets[check_priority(priority)]

    def first_reply_due(self, priority: str, opened_at: float) -> float:
        """When the first public reply to a ticket opened at ``opened_at`` is due."""
        hours = self.target(priority).first_reply_hours
        return add_business_seconds(self.hours, opened_at, hours * HOUR)

    def resolution_due(self, priority: str, opened_at: float) -> float:
        """When a ticket opened at ``opened_at`` should be solved."""
        hours = self.target(priority).resolution_hours
        return add_business_seconds(self.hours, opened_at, hours * HOUR)

    def business_seconds(self, start: float, end: float) -> float:
        """Business seconds between two moments (what the metrics record)."""
        return business_seconds_between(self.hours, start, end)

    def to_dict(self) -> Dict[str, Dict[str, float]]:
        """JSON-friendly targets per priority (served to the console)."""
        return {
            p: {"first_reply_hours": t.first_reply_hours, "resolution_hours": t.resolution_hours}
            for p, t in self.targets.items()
        }
