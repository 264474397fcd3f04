"""Handing the conversation to a person: escalation into the live CSR queue.

Every trigger (the customer asks, two misunderstandings in a row, the dialogue
is lost, an action fails, a complaint, a business rule) ends in
:func:`escalate`, which records the reason, the confidence that triggered it and
the context a CSR needs, tells the customer honestly what happens next, and
pauses the bot. Outside business hours, while an admin has set the team away
(:mod:`handoff.core.availability`), and in business hours with no CSR's console open
(:mod:`handoff.core.presence`, ``tickets.offer_when_no_csr_online``), the customer is
offered a ticket.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from redis.exceptions import RedisError

from actions.formatting import order_status_message
from actions.orders.adapter import OrderSystemError
from actions.services import ServicesMixin
from handoff.core.errors import DomainError, InvalidTransition

logger = logging.getLogger(__name__)

FALLBACK = "nlu_fallback"
# Slots a CSR may see; the proof of ownership a customer typed is not one of them.
CONTEXT_SLOTS = (
    "order_id",
    "verified_order_id",
    "customer_email",
    "verified_email",
    "failed_verifications",
    "verification_locked",
    "return_items",
    "return_reason",
    "return_condition",
)
REASON_BY_INTENT = {"request_human": "request_human", "complain": "complaint"}
AWAY_TICKET_TEXT = (
    "If you leave your email address, a person will pick up this conversation and email you "
    "as soon as the team is back."
)
NO_CSR_TICKET_TEXT = (
    "Nobody from our support team is available to chat right now. If you leave your email "
    "address, a person will pick up this conversation and email you as soon as they can."
)


async def escalate(
    action: ServicesMixin,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    reason: str,
    confidence: Optional[float] = None,
) -> List[EventType]:
    """Queue the conversation for a CSR (or offer a ticket) and pause the bot."""
    services = action.services
    config = services.handoff_config
    if config is not None and not config.business_hours.is_open():
        hours = config.business_hours
        dispatcher.utter_message(
            response="utter_offer_ticket",
            open=hours.open.strftime("%H:%M"),
            close=hours.close.strftime("%H:%M"),
            timezone=hours.timezone,
        )
        return [SlotSet("ticket_reason", reason), FollowupAction("ticket_form")]
    away = await team_away(action)
    if away is not None:
        dispatcher.utter_message(text=f"{away['message']} {AWAY_TICKET_TEXT}")
        return [SlotSet("ticket_reason", reason), FollowupAction("ticket_form")]
    if await nobody_online(action):
        dispatcher.utter_message(text=NO_CSR_TICKET_TEXT)
        return [SlotSet("ticket_reason", reason), FollowupAction("ticket_form")]
    context = await conversation_context(action, tracker)
    try:
        queued = await services.handoff.escalate(
            tracker.sender_id, reason, confidence=confidence, context=context
        )
    except InvalidTransition:
        dispatcher.utter_message(
            text="A person from our support team already has this conversation."
        )
        return []
    except (RedisError, DomainError, OSError) as exc:
        logger.error("escalation of %s failed: %s", tracker.sender_id, exc)
        dispatcher.utter_message(response="utter_handoff_unavailable")
        return []
    minutes = max(1, round(queued.estimated_wait_seconds / 60))
    dispatcher.utter_message(
        response="utter_handoff_queued", position=queued.position, minutes=minutes
    )
    return [ConversationPaused()]


async def team_away(action: ServicesMixin) -> Optional[Dict[str, Any]]:
    """The away notice while an admin has set the team away (None when the team is in).

    Redis being away is not the team being away: the escalation then says what it can.
    """
    try:
        return await action.services.availability.away()
    except (RedisError, OSError) as exc:
        logger.warning("could not read whether the team is away: %s", exc)
        return None


async def nobody_online(action: ServicesMixin) -> bool:
    """Whether no CSR's console is open (``tickets.offer_when_no_csr_online`` on).

    Redis being away is not the team being away: the escalation then says what it can.
    """
    services = action.services
    tickets = (services.handoff_config or services.resources.settings).tickets
    if not tickets.offer_when_no_csr_online:
        return False
    try:
        return not await services.presence.anyone_online(tickets.presence_seconds)
    except (RedisError, OSError) as exc:
        logger.warning("could not read whether a CSR is online: %s", exc)
        return False


async def ticket_source(action: ServicesMixin) -> str:
    """Why a ticket is being left: ``team_away``, ``no_csr`` or ``out_of_hours``.

    Decided again when the ticket is opened, in the order :func:`escalate` offers tickets
    (the team away wins over the hours); ``no_csr`` in business hours with nobody online.
    """
    if await team_away(action) is not None:
        return "team_away"
    config = action.services.handoff_config
    if (config is None or config.business_hours.is_open()) and await nobody_online(action):
        return "no_csr"
    return "out_of_hours"


async def conversation_context(action: ServicesMixin, tracker: Tracker) -> Dict[str, Any]:
    """Transcript, slots, order, page and a summary: what a CSR reads before replying.

    Built from the applied events: what a restart, rewind or undo took back is left out.
    """
    events = tracker.applied_events()
    first = next((e for e in events if e.get("event") == "user"), {})
    metadata = first.get("metadata") or {}
    latest = tracker.latest_message.get("metadata") or {}
    context: Dict[str, Any] = {
        "transcript": transcript(events),
        "slots": {
            k: tracker.get_slot(k)
            for k in CONTEXT_SLOTS
            if tracker.get_slot(k) not in (None, [], False, 0)
        },
        "summary": summary(events),
    }
    for key in ("page_url", "locale"):
        value = latest.get(key) or metadata.get(key)
        if value:
            context[key] = str(value)[:500]
    order = await _order_summary(action, tracker)
    if order:
        context["order"] = order
    return context


def transcript(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Who said what and when, with the intent and confidence of customer messages."""
    lines = []
    for event in events:
        kind, text = event.get("event"), event.get("text")
        if kind == "user" and text is not None:
            intent = (event.get("parse_data") or {}).get("intent") or {}
            lines.append(
                {
                    "sender": "customer",
                    "text": text,
                    "timestamp": event.get("timestamp"),
                    "intent": intent.get("name"),
                    "confidence": intent.get("confidence"),
                }
            )
        elif kind == "bot" and text:
            agent = (event.get("metadata") or {}).get("agent")
            lines.append(
                {
                    "sender": "csr" if agent else "bot",
                    "text": text,
                    "timestamp": event.get("timestamp"),
                    "agent": agent,
                }
            )
    return lines


def summary(events: List[Dict[str, Any]]) -> str:
    """One line on what the bot tried, so a CSR can start where it stopped."""
    intents = [
        ((e.get("parse_data") or {}).get("intent") or {}).get("name")
        for e in events
        if e.get("event") == "user"
    ]
    intents = [i for i in intents if i]
    actions = {e.get("name") for e in events if e.get("event") == "action"}
    tried = [
        name.replace("action_", "").replace("_", " ")
        for name in sorted(actions)
        if name.startswith("action_")
        and name
        not in (
            "action_listen",
            "action_session_start",
            "action_extract_slots",
            "action_human_handoff",
        )
    ]
    parts = [f"{len(intents)} customer messages"]
    if intents:
        parts.append("topics: " + ", ".join(dict.fromkeys(intents)))
    if FALLBACK in intents:
        parts.append(f"not understood {intents.count(FALLBACK)} times")
    if tried:
        parts.append("bot ran: " + ", ".join(tried))
    return "; ".join(parts)


async def _order_summary(action: ServicesMixin, tracker: Tracker) -> Optional[Dict[str, Any]]:
    order_id = tracker.get_slot("verified_order_id")
    if not order_id:
        # The number the customer gave, not yet proven theirs: the CSR verifies it.
        claimed = tracker.get_slot("order_id")
        return {"order_id": str(claimed), "verified": False} if claimed else None
    try:
        order = await action.services.orders.get_order(order_id)
    except OrderSystemError:
        return {
            "order_id": order_id,
            "verified": True,
            "note": "order system unreachable at escalation",
        }
    if order is None:
        return None
    return {
        "order_id": order.order_id,
        "verified": True,
        "status": order.status.value,
        "summary": order_status_message(order),
        "customer": order.customer_name,
        "email": order.email,
        "total_cents": order.total_cents,
    }


def intent_confidence(tracker: Tracker) -> Optional[float]:
    """The confidence of the best real intent of the latest message (the fallback hides it)."""
    ranking = tracker.latest_message.get("intent_ranking") or []
    best = next((r for r in ranking if r.get("name") != FALLBACK), None)
    if best is not None:
        return float(best.get("confidence") or 0.0)
    confidence = (tracker.latest_message.get("intent") or {}).get("confidence")
    return None if confidence is None else float(confidence)


class ActionHumanHandoff(ServicesMixin, Action):
    """The customer asked for a person, or complained."""

    def name(self) -> Text:
        return "action_human_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        reason = REASON_BY_INTENT.get(intent, "request_human")
        return await escalate(self, dispatcher, tracker, reason, intent_confidence(tracker))


class ActionHandleFallback(ServicesMixin, Action):
    """Two-stage fallback: ask to rephrase once; a second miss in a row goes to a person."""

    def name(self) -> Text:
        return "action_handle_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        user_turns = [e for e in tracker.applied_events() if e.get("event") == "user"]
        previous = user_turns[-2] if len(user_turns) > 1 else {}
        previous_intent = ((previous.get("parse_data") or {}).get("intent") or {}).get("name")
        if previous_intent != FALLBACK:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        dispatcher.utter_message(text="Sorry, I'm still not getting it.")
        return await escalate(self, dispatcher, tracker, "nlu_fallback", intent_confidence(tracker))


class ActionCoreFallback(ServicesMixin, Action):
    """The dialogue model does not know what to do next: a person does."""

    def name(self) -> Text:
        return "action_core_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        # The dialogue policies' confidence does not reach the action server; the
        # latest message's intent confidence is the closest signal a CSR can read.
        return await escalate(
            self, dispatcher, tracker, "core_fallback", intent_confidence(tracker)
        )


class ActionCreateTicket(ServicesMixin, Action):
    """No CSR to take the chat (out of hours, team away, nobody online): a ticket by email.

    The ticket lands in the CSRs' ticket inbox (:class:`handoff.core.tickets.TicketDesk`)
    with due times from the SLA of its priority.
    """

    def name(self) -> Text:
        return "action_create_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        email = tracker.get_slot("ticket_email")
        reason = tracker.get_slot("ticket_reason") or "request_human"
        reset = [SlotSet("ticket_email", None), SlotSet("ticket_reason", None)]
        if not email:
            when = "during our opening hours" if await ticket_source(self) == "out_of_hours" else ""
            dispatcher.utter_message(
                text=f"No problem. You can ask for a person again any time {when}".rstrip() + "."
            )
            return reset
        services = self.services
        try:
            # Queued first, so the record holds the transcript and context a CSR reads;
            # the ticket desk then takes it out of the queue into the ticket inbox.
            await services.handoff.escalate(
                tracker.sender_id,
                reason,
                confidence=intent_confidence(tracker),
                context=await conversation_context(self, tracker),
            )
            ticket = await services.tickets.open_from_conversation(
                tracker.sender_id, email, reason=reason, source=await ticket_source(self)
            )
        except (RedisError, DomainError, OSError) as exc:
            logger.error("ticket for %s failed: %s", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return reset
        dispatcher.utter_message(response="utter_ticket_created", email=email, ticket_id=ticket.id)
        return reset


class ActionHandback(ServicesMixin, Action):
    """After a CSR releases the conversation: greet back, with the order in mind."""

    def name(self) -> Text:
        return "action_handback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order_id = tracker.get_slot("verified_order_id")
        about = f" about order {order_id}" if order_id else ""
        dispatcher.utter_message(
            text="Hi again, it's the Harbor & Pine assistant. "
            f"Is there anything else I can help you with{about}?"
        )
        return []
