"""What the action tests check actions with: business hours on demand, what was said, what
was set."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk.executor import CollectingDispatcher

from handoff.core.settings import BusinessHours


class AlwaysOpen(BusinessHours):
    def is_open(self, at=None) -> bool:
        return True


class NeverOpen(BusinessHours):
    def is_open(self, at=None) -> bool:
        return False


def texts(dispatcher: CollectingDispatcher) -> str:
    return "\n".join(m.get("text") or m.get("response") or "" for m in dispatcher.messages)


def slot_values(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
