"""The collaborators actions use, created on first use rather than at import.

The action server imports every module of this package at start-up, so
nothing here touches a file or the network until an action runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from actions.orders.adapter import OrderSystem
from actions.orders.factory import order_system_from_config
from actions.returns_policy import ReturnPolicy
from actions.settings import load_settings


@dataclass
class Services:
    """What an action needs: the order system, the return policy and a clock."""

    orders: OrderSystem
    policy: ReturnPolicy
    today: Callable[[], dt.date] = field(default=dt.date.today)


@lru_cache(maxsize=1)
def default_services() -> Services:
    """Services built from the project's settings (once per process)."""
    settings = load_settings()
    return Services(
        orders=order_system_from_config(settings.order_system),
        policy=ReturnPolicy.from_file(settings.returns_policy_file),
    )
