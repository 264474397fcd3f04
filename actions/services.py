"""The collaborators actions use, created on first use rather than at import.

The action server imports every module of this package at start-up, so
nothing here touches a file or the network until an action runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Optional

from actions.orders.adapter import OrderSystem
from actions.orders.factory import order_system_from_config
from actions.returns_policy import ReturnPolicy
from actions.settings import load_settings
from handoff.core.availability import Availability
from handoff.core.customers import CustomerProfiles
from handoff.core.followup import Followups
from handoff.core.presence import Presence
from handoff.core.resources import Resources
from handoff.core.settings import HandoffConfig, load_config
from handoff.core.store import HandoffStore
from handoff.core.tickets import TicketDesk


@dataclass
class Services:
    """What an action needs: the order system, the return policy, the CSR queue and a clock."""

    orders: OrderSystem
    policy: ReturnPolicy
    today: Callable[[], dt.date] = field(default=dt.date.today)
    handoff_config: Optional[HandoffConfig] = None
    _resources: Optional[Resources] = None

    @property
    def resources(self) -> Resources:
        """The composition root of this process (nothing connects until first used)."""
        if self._resources is None:
            self._resources = Resources(self.handoff_config or load_config())
        return self._resources

    @property
    def handoff(self) -> HandoffStore:
        """The live CSR queue in Redis, built by the composition root (connected on first use)."""
        return self.resources.store

    @property
    def followups(self) -> Followups:
        """The "did that solve it?" records the bot's finished flows start."""
        return self.resources.followups

    @property
    def availability(self) -> Availability:
        """Team away mode: while away, the bot offers a ticket instead of the queue."""
        return self.resources.availability

    @property
    def presence(self) -> Presence:
        """Which CSRs have a console open: with nobody, the bot offers a ticket."""
        return self.resources.presence

    @property
    def customers(self) -> CustomerProfiles:
        """Verified customers' conversations and orders (the CSR's customer history)."""
        return self.resources.customers

    @property
    def tickets(self) -> TicketDesk:
        """The ticket inbox: a chat no CSR could take becomes a ticket answered by email."""
        return self.resources.tickets


@lru_cache(maxsize=1)
def default_services() -> Services:
    """Services built from the project's settings (once per process)."""
    settings = load_settings()
    return Services(
        orders=order_system_from_config(settings.order_system),
        policy=ReturnPolicy.from_file(settings.returns_policy_file),
        handoff_config=load_config(),
    )


class ServicesMixin:
    """Gives an action its services; tests pass their own, the server uses the defaults."""

    def __init__(self, services: Optional[Services] = None) -> None:
        self._services = services

    @property
    def services(self) -> Services:
        return self._services or default_services()
