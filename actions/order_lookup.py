"""Finding a customer's order and proving it is theirs, shared by every order form.

When the lookup cannot go on (verification locked, order system down, the
request not possible for this order) the form stops with a flag set, and the
action that follows the form says why: see :func:`explain_stop`.

Each order form (status, return, refund, cancel) asks for an order number,
or an email address when the customer has no number, then for proof of
ownership (the email or postcode on the order) before anything is revealed.
After three failed proofs in a conversation the bot stops trying and offers
a person. Subclasses add the questions that follow verification.
"""

from __future__ import annotations

import abc
import logging
from typing import Any, Dict, Iterable, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.formatting import normalise_postcode, order_choice_title
from actions.handoff import escalate
from actions.orders.adapter import OrderSystemUnavailable
from actions.orders.codec import normalise_order_id
from actions.orders.records import Order
from actions.services import ServicesMixin

logger = logging.getLogger(__name__)

MAX_FAILED_VERIFICATIONS = 3
Slots = Dict[Text, Any]


def is_verified(tracker: Tracker) -> bool:
    """Whether the customer proved they own the order currently discussed."""
    order_id = tracker.get_slot("order_id")
    return bool(order_id) and normalise_order_id(order_id) == tracker.get_slot("verified_order_id")


def lookup_blocked(tracker: Tracker) -> bool:
    """The form must stop: verification is locked or the order system is down."""
    return bool(
        tracker.get_slot("verification_locked") or tracker.get_slot("order_system_unavailable")
    )


class OrderFormValidation(ServicesMixin, FormValidationAction, abc.ABC):
    """Validation shared by the order forms; ``name()`` picks the form."""

    @abc.abstractmethod
    def name(self) -> Text:
        """``validate_<form name>``."""

    def slots_after_verification(self, tracker: Tracker) -> List[Text]:
        """Questions this form asks once the order is verified."""
        return []

    async def on_verified(
        self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Slots:
        """Hook run when the order becomes verified; may set ``request_blocked``."""
        return {}

    async def required_slots(
        self,
        domain_slots: List[Text],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        if lookup_blocked(tracker) or tracker.get_slot("request_blocked"):
            return []
        if is_verified(tracker):
            return ["order_id"] + self.slots_after_verification(tracker)
        if tracker.get_slot("verified_email"):
            return ["order_id"]
        if not tracker.get_slot("order_id") and tracker.get_slot("customer_email"):
            return ["customer_email", "verification", "order_id"]
        return ["order_id", "verification"]

    async def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        order_id = normalise_order_id(value)
        try:
            order = await self.services.orders.get_order(order_id)
        except OrderSystemUnavailable:
            return {"order_id": order_id, "order_system_unavailable": True}
        if order is None:
            dispatcher.utter_message(
                text=f"I couldn't find an order with the number {order_id}. "
                "Order numbers look like A1042 and are in your confirmation email. "
                "Could you check it?"
            )
            return {"order_id": None}
        slots: Slots = {"order_id": order_id, "request_blocked": False}
        if tracker.get_slot("verified_order_id") not in (None, order_id):
            # The customer switched orders: answers about the earlier one (items to return, a
            # "yes, cancel it") must not be applied to this one.
            slots.update(dict.fromkeys(self.slots_after_verification(tracker)))
        verified_email = tracker.get_slot("verified_email")
        if order_id == tracker.get_slot("verified_order_id") or (
            verified_email and order.email.lower() == verified_email
        ):
            slots["verified_order_id"] = order_id
            await self.link_customer(tracker, order.email, [order_id])
            slots.update(await self.on_verified(order, dispatcher, tracker))
        return slots

    async def validate_customer_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        return {"customer_email": str(value).strip().lower()}

    async def validate_verification(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        try:
            if tracker.get_slot("order_id"):
                return await self._verify_order(str(value), dispatcher, tracker)
            return await self._verify_email_owner(str(value), dispatcher, tracker)
        except OrderSystemUnavailable:
            return {"order_system_unavailable": True}

    async def _verify_order(
        self, proof: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Slots:
        order_id = normalise_order_id(tracker.get_slot("order_id"))
        order = await self.services.orders.get_order(order_id)
        if order is not None and _proves_ownership(order, proof):
            dispatcher.utter_message(text="Thanks, that matches our records.")
            slots = {"verification": None, "verified_order_id": order_id}
            await self.link_customer(tracker, order.email, [order_id])
            return {**slots, **await self.on_verified(order, dispatcher, tracker)}
        return _failed(dispatcher, tracker, f"That doesn't match the details on order {order_id}.")

    async def _verify_email_owner(
        self, proof: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Slots:
        email = (tracker.get_slot("customer_email") or "").lower()
        orders = await self.services.orders.find_orders_by_email(email)
        if not any(normalise_postcode(o.postcode) == normalise_postcode(proof) for o in orders):
            return {
                **_failed(dispatcher, tracker, "I couldn't match that email and postcode."),
                "customer_email": None,
            }
        slots: Slots = {"verification": None, "verified_email": email}
        await self.link_customer(tracker, email, [o.order_id for o in orders])
        if len(orders) == 1:
            only = orders[0]
            slots.update({"order_id": only.order_id, "verified_order_id": only.order_id})
            slots.update(await self.on_verified(only, dispatcher, tracker))
        return slots

    async def link_customer(self, tracker: Tracker, email: str, order_ids: Iterable[str]) -> None:
        """Link this conversation to the customer who just proved who they are.

        The identity is the email on the order, whatever the proof was (a postcode
        too): the CSR then sees the customer's earlier conversations and tickets. The
        link is a convenience for the CSR, so a failure is logged and the customer's
        request goes on.
        """
        try:
            await self.services.customers.link_conversation(
                tracker.sender_id, email, order_ids=list(order_ids)
            )
        except Exception as exc:  # noqa: BLE001 - never break the customer's flow over it
            logger.warning(
                "could not link conversation %s to its customer: %s", tracker.sender_id, exc
            )


def _proves_ownership(order: Order, proof: str) -> bool:
    proof = proof.strip()
    if "@" in proof:
        return proof.lower() == order.email.lower()
    return normalise_postcode(proof) == normalise_postcode(order.postcode)


def _failed(dispatcher: CollectingDispatcher, tracker: Tracker, why: str) -> Slots:
    failures = int(tracker.get_slot("failed_verifications") or 0) + 1
    if failures >= MAX_FAILED_VERIFICATIONS:
        # The form stops here; the action that follows it explains the lock.
        dispatcher.utter_message(text=why)
        return {"verification": None, "failed_verifications": failures, "verification_locked": True}
    left = MAX_FAILED_VERIFICATIONS - failures
    tries = "try" if left == 1 else "tries"
    dispatcher.utter_message(text=f"{why} Please check it and try again ({left} {tries} left).")
    return {"verification": None, "failed_verifications": failures}


class VerifiedOrderAction(ServicesMixin, Action, abc.ABC):
    """An action that runs after an order form and acts on the verified order."""

    @abc.abstractmethod
    def name(self) -> Text:
        """The action's name in the domain."""

    @abc.abstractmethod
    async def act(
        self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        """Answer or change the verified order; may raise OrderSystemUnavailable."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        stopped = await explain_stop(self, dispatcher, tracker)
        if stopped is not None:
            return stopped
        try:
            order = await self.services.orders.get_order(tracker.get_slot("verified_order_id"))
            if order is None:  # deleted between the form and now
                dispatcher.utter_message(
                    text="I can't find that order any more. A person can look into it."
                )
                return []
            return await self.act(order, dispatcher, tracker)
        except OrderSystemUnavailable:
            return await order_system_down(self, dispatcher, tracker)


async def order_system_down(
    action: ServicesMixin, dispatcher: CollectingDispatcher, tracker: Tracker
) -> List[EventType]:
    """Say so honestly and hand over to a person, who can look the order up another way."""
    dispatcher.utter_message(response="utter_order_system_down")
    # Clear the flag so the next question tries the order system again.
    events: List[EventType] = [SlotSet("order_system_unavailable", False)]
    return events + await escalate(action, dispatcher, tracker, "action_failed")


async def explain_stop(
    action: ServicesMixin, dispatcher: CollectingDispatcher, tracker: Tracker
) -> Optional[List[EventType]]:
    """If the form stopped before verifying, say why; return None when it did not stop."""
    if tracker.get_slot("verification_locked"):
        dispatcher.utter_message(response="utter_verification_locked")
        return []
    if tracker.get_slot("order_system_unavailable"):
        return await order_system_down(action, dispatcher, tracker)
    if tracker.get_slot("request_blocked"):
        # The form already explained why; the next request starts afresh.
        return [SlotSet("request_blocked", False)]
    if not is_verified(tracker):
        dispatcher.utter_message(response="utter_anything_else")
        return []
    return None


class ActionAskOrderId(ServicesMixin, Action):
    """Ask for the order number, or let a verified email owner pick an order."""

    def name(self) -> Text:
        return "action_ask_order_id"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        email = tracker.get_slot("verified_email")
        if not email:
            dispatcher.utter_message(
                text="What's your order number? It looks like A1042 and is in your confirmation "
                "email. If you don't have it, tell me the email address you ordered with."
            )
            return []
        try:
            orders = await self.services.orders.find_orders_by_email(email)
        except OrderSystemUnavailable:
            dispatcher.utter_message(response="utter_order_system_down")
            return [SlotSet("order_system_unavailable", True)]
        buttons = [
            {"title": order_choice_title(o), "payload": f'/inform{{"order_id": "{o.order_id}"}}'}
            for o in orders[:10]
        ]
        dispatcher.utter_message(
            text="I found these orders. Which one is it about?", buttons=buttons
        )
        return []


class ActionAskVerification(Action):
    """Ask for proof of ownership, worded for the path the customer is on."""

    def name(self) -> Text:
        return "action_ask_verification"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order_id = tracker.get_slot("order_id")
        if order_id:
            text = (
                f"To keep your details safe, please tell me the email address or the delivery "
                f"postcode on order {normalise_order_id(order_id)}."
            )
        else:
            text = "Thanks. To confirm it's you, what's the delivery postcode on your orders?"
        dispatcher.utter_message(text=text)
        return []
