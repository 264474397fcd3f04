"""Actions run against the real SQLite demo store, seeded fresh for each test."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from actions.orders.demo_store import seed_demo_store
from actions.orders.sqlite_store import SQLiteOrderSystem
from actions.returns_policy import ReturnPolicy
from actions.services import Services
from handoff.core.settings import load_config
from tests.support.actions import AlwaysOpen
from tests.support.orders import TODAY


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    return yaml.safe_load(Path("domain.yml").read_text())


@pytest.fixture
def services(tmp_path, redis_db) -> Services:
    """The real SQLite demo store, the project's policy, and the CSR queue on the test Redis."""
    db = tmp_path / "store.db"
    seed_demo_store(db, TODAY)
    config = load_config(env={})
    # CSRs are "at work" and online: escalations queue unless a test says otherwise.
    config = replace(
        config,
        redis_url=redis_db,
        business_hours=AlwaysOpen(),
        tickets=replace(config.tickets, offer_when_no_csr_online=False),
    )
    return Services(
        orders=SQLiteOrderSystem(db, today=lambda: TODAY),  # one clock for store and actions
        policy=ReturnPolicy.from_file(Path("returns_policy.yml")),
        today=lambda: TODAY,
        handoff_config=config,
    )
