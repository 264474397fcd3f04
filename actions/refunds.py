"""Refund status: "where is my refund?"."""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.followup import ask_followup
from actions.formatting import return_status_message
from actions.order_lookup import OrderFormValidation, VerifiedOrderAction
from actions.orders.records import Order


class ValidateRefundStatusForm(OrderFormValidation):
    def name(self) -> Text:
        return "validate_refund_status_form"


class ActionRefundStatus(VerifiedOrderAction):
    """Tell a verified customer where the returns and refunds of their order are."""

    def name(self) -> Text:
        return "action_refund_status"

    async def act(
        self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        returns = await self.services.orders.get_returns(order.order_id)
        if not returns:
            dispatcher.utter_message(
                text=f"There's no return on order {order.order_id} yet, so no refund is due. "
                'If you\'d like to send something back, say "start a return".'
            )
            return []
        days = self.services.policy.refund_business_days
        for record in returns:
            dispatcher.utter_message(text=return_status_message(record, days))
        await ask_followup(self, dispatcher, tracker, "refund_status")
        return []
