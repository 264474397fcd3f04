"""Rasa trackers for tests: the SDK ``Tracker`` an action receives, and tracker events in
exactly the format Rasa's RedisTrackerStore keeps them (``rasa:tracker:<sender>``, JSON)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker

# ---- what an action receives -------------------------------------------------------------------


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


# ---- events as Rasa logs them ------------------------------------------------------------------


def user(
    text: str,
    intent: str,
    confidence: float,
    at: float,
    ranking: Optional[List[Dict[str, Any]]] = None,
    **parse: Any,
) -> Dict[str, Any]:
    """A ``user`` event with parse data like Rasa's (fallback hides the real intent)."""
    return {
        "event": "user",
        "timestamp": at,
        "text": text,
        "input_channel": "widget",
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
            "entities": [],
            **parse,
        },
        "metadata": {},
    }


def bot(text: str, at: float, agent: Optional[str] = None) -> Dict[str, Any]:
    return {
        "event": "bot",
        "timestamp": at,
        "text": text,
        "metadata": {"agent": agent} if agent else {},
    }


def action(name: str, at: float) -> Dict[str, Any]:
    return {"event": "action", "timestamp": at, "name": name}


def pause(at: float) -> Dict[str, Any]:
    return {"event": "pause", "timestamp": at}


async def save_tracker(
    redis, sender: str, events: List[Dict[str, Any]], key_prefix: str = "rasa"
) -> None:
    """Store a tracker the way RedisTrackerStore does (key and JSON dialogue)."""
    await redis.set(
        f"{key_prefix}:tracker:{sender}", json.dumps({"name": sender, "events": events})
    )
