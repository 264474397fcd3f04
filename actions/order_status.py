"""Order status: "where is my order?"."""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.followup import ask_followup
from actions.formatting import order_status_message
from actions.order_lookup import OrderFormValidation, VerifiedOrderAction
from actions.orders.records import Order


class ValidateOrderStatusForm(OrderFormValidation):
    def name(self) -> Text:
        return "validate_order_status_form"


class ActionOrderStatus(VerifiedOrderAction):
    """Tell a verified customer where their order is."""

    def name(self) -> Text:
        return "action_order_status"

    async def act(
        self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        dispatcher.utter_message(text=order_status_message(order))
        await ask_followup(self, dispatcher, tracker, "order_status")
        return []
