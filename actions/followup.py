"""Asking "Did that solve it?" when the bot finishes an order, return, refund or cancel flow.

The question is the bot's last reply of the flow, with Yes/No buttons whose payloads the
widget channel intercepts before Rasa (:mod:`handoff.core.followup`); the record it is
answered against is written first, so an answer always finds it. When Redis is away the
flow's answer still goes out, without the question.
"""

from __future__ import annotations

import logging

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import RedisError

from actions.services import ServicesMixin
from handoff.core import followup
from handoff.core.errors import DomainError

logger = logging.getLogger(__name__)


async def ask_followup(
    action: ServicesMixin, dispatcher: CollectingDispatcher, tracker: Tracker, flow: str
) -> bool:
    """Ask whether ``flow`` (one of :data:`followup.BOT_FLOWS`) solved it. Returns whether asked."""
    try:
        await action.services.followups.ask(tracker.sender_id, resolver="bot", reason=flow)
    except (RedisError, DomainError, OSError) as exc:
        logger.warning("no follow-up question for %s: %s", tracker.sender_id, exc)
        return False
    dispatcher.utter_message(text=followup.QUESTION, buttons=followup.buttons())
    return True
