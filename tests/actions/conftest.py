"""Actions run against the real SQLite demo store, seeded fresh for each test."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.orders.demo_store import seed_demo_store
from actions.orders.sqlite_store import SQLiteOrderSystem
from actions.returns_policy import ReturnPolicy
from actions.services import Services
from handoff.core.settings import BusinessHours, load_config

TODAY = dt.date(2026, 11, 23)


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    return yaml.safe_load(Path("domain.yml").read_text())


class AlwaysOpen(BusinessHours):
    def is_open(self, at=None) -> bool:
        return True


class NeverOpen(BusinessHours):
    def is_open(self, at=None) -> bool:
        return False


@pytest.fixture
def services(tmp_path, redis_db) -> Services:
    """The real SQLite demo store, the project's policy, and the CSR queue on the test Redis."""
    db = tmp_path / "store.db"
    seed_demo_store(db, TODAY)
    config = replace(load_config(env={}), redis_url=redis_db, business_hours=AlwaysOpen())
    return Services(
        orders=SQLiteOrderSystem(db, today=lambda: TODAY),  # one clock for store and actions
        policy=ReturnPolicy.from_file(Path("returns_policy.yml")),
        today=lambda: TODAY,
        handoff_config=config,
    )


def tracker(
    slots: Optional[Dict[str, Any]] = None,
    just_set: Optional[Dict[str, Any]] = None,
    text: str = "",
    intent: str = "inform",
    active_loop: Optional[str] = None,
    history: Optional[List[Dict[str, Any]]] = None,
    confidence: float = 1.0,
    sender_id: str = "test",
) -> Tracker:
    """A tracker whose latest user turn set ``just_set`` (what a form then validates)."""
    values = {
        "failed_verifications": 0,
        "verification_locked": False,
        "order_system_unavailable": False,
        "request_blocked": False,
        **(slots or {}),
        **(just_set or {}),
    }
    parse = {"intent": {"name": intent, "confidence": confidence}}
    metadata = {"page_url": "https://shop.example/orders", "locale": "en-US"}
    events: List[Dict[str, Any]] = list(history or [])
    events.append(
        {"event": "user", "text": text, "timestamp": 1.0, "parse_data": parse, "metadata": metadata}
    )
    events += [{"event": "slot", "name": k, "value": v} for k, v in (just_set or {}).items()]
    return Tracker(
        sender_id=sender_id,
        slots=values,
        latest_message={
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": [],
            "intent_ranking": [{"name": intent, "confidence": confidence}],
            "metadata": metadata,
        },
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def texts(dispatcher: CollectingDispatcher) -> str:
    return "\n".join(m.get("text") or m.get("response") or "" for m in dispatcher.messages)


def slot_values(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
