"""Cancelling an order that has not shipped yet, after the customer confirms."""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.followup import ask_followup
from actions.formatting import money
from actions.order_lookup import OrderFormValidation, Slots, VerifiedOrderAction
from actions.orders.adapter import RequestRejected
from actions.orders.records import Order, OrderStatus


class ValidateCancelForm(OrderFormValidation):
    """Cancel form: after verification, check the order can still be cancelled, then confirm."""

    def name(self) -> Text:
        return "validate_cancel_form"

    def slots_after_verification(self, tracker: Tracker) -> List[Text]:
        return ["cancel_confirmed"]

    async def on_verified(
        self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Slots:
        if order.status.cancellable:
            return {}
        dispatcher.utter_message(text=not_cancellable_message(order))
        return {"request_blocked": True}


class ActionCancelOrder(VerifiedOrderAction):
    """Cancel the verified order if the customer confirmed."""

    def name(self) -> Text:
        return "action_cancel_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        return events + [SlotSet("cancel_confirmed", None)]

    async def act(
        self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        if tracker.get_slot("cancel_confirmed") is not True:
            dispatcher.utter_message(text=f"No problem, order {order.order_id} stays as it is.")
            return []
        try:
            cancelled = await self.services.orders.cancel_order(order.order_id)
        except RequestRejected:
            dispatcher.utter_message(text=not_cancellable_message(order))
            return []
        dispatcher.utter_message(
            text=f"Order {cancelled.order_id} is cancelled. You won't be charged the "
            f"{money(cancelled.total_cents)}; if your bank shows a pending amount, it drops off "
            "in 3-5 business days. A confirmation email is on its way."
        )
        await ask_followup(self, dispatcher, tracker, "cancellation")
        return []


def not_cancellable_message(order: Order) -> str:
    """Why an order cannot be cancelled, and what to do instead."""
    if order.status is OrderStatus.CANCELLED:
        return f"Order {order.order_id} is already cancelled, so there's nothing more to do."
    if order.status in (OrderStatus.DELIVERED, OrderStatus.RETURNED):
        return (
            f"Order {order.order_id} has already been delivered, so it can't be cancelled. "
            'You can return it instead: just say "start a return".'
        )
    return (
        f"Order {order.order_id} has already shipped, so I can't cancel it any more. "
        'Once it arrives you can return it for a refund: just say "start a return".'
    )
