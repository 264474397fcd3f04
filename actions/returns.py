"""Returns: check eligibility, let the customer pick items, reason and condition, create the
return.
"""

from __future__ import annotations

import re
from typing import Any, List, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import returns_policy as rules
from actions.followup import ask_followup
from actions.formatting import day, item_line, items_sentence, money
from actions.handoff import escalate
from actions.order_lookup import (
    OrderFormValidation,
    Slots,
    VerifiedOrderAction,
)
from actions.orders.adapter import OrderSystemUnavailable, RequestRejected
from actions.orders.records import Order, OrderItem
from actions.services import ServicesMixin

RETURN_SLOTS = ("return_items", "return_reason", "return_condition")

_ALL_WORDS = re.compile(r"\b(all|both|everything|every ?thing|each)\b")
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}
_REASON_WORDS = [
    (
        "damaged",
        r"broke|damag|defect|fault|crack|scratch|dent|not work|doesn.?t work|"
        r"stopped working|torn|ripped",
    ),
    ("wrong_item", r"wrong|not what i ordered|different (item|colou?r|size)|incorrect"),
    ("doesnt_fit", r"fit|too (small|big|large|tight|loose|short|long)|size"),
    (
        "changed_mind",
        r"changed? my mind|don.?t (want|need|like)|no longer|not needed|not for me|mistake",
    ),
]
_CONDITION_WORDS = [
    (
        "unused",
        r"unused|never used|not used|unopened|sealed|new|original packag|tags? on|untouched",
    ),
    ("defective", r"broke|damag|defect|fault|crack|arrived|dent"),
    ("used", r"used|opened|wor[en]|wear|washed|tried"),
]


class ValidateReturnForm(OrderFormValidation):
    """Return form: after verification, which items, why, and in what condition."""

    def name(self) -> Text:
        return "validate_return_form"

    def slots_after_verification(self, tracker: Tracker) -> List[Text]:
        return list(RETURN_SLOTS)

    async def on_verified(
        self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Slots:
        eligibility = await _eligibility(self, order)
        if not eligibility.eligible:
            dispatcher.utter_message(
                text=ineligible_message(self.services.policy, order, eligibility)
            )
            return {"request_blocked": True}
        if len(eligibility.returnable_items) == 1:
            only = eligibility.returnable_items[0]
            dispatcher.utter_message(
                text=f"You can return the {item_line(only)} until {day(eligibility.deadline)}."
            )
            return {"return_items": [only.sku]}
        return {}

    async def validate_return_items(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        order = await self.services.orders.get_order(tracker.get_slot("verified_order_id"))
        returnable = (await _eligibility(self, order)).returnable_items if order else ()
        chosen = pick_items(value, returnable)
        if not chosen:
            dispatcher.utter_message(
                text="Sorry, I couldn't tell which item you mean. Please pick one of the buttons."
            )
            return {"return_items": None}
        return {"return_items": [item.sku for item in chosen]}

    async def validate_return_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        return {
            "return_reason": classify(
                str(value), self.services.policy.reasons, _REASON_WORDS, "other"
            )
        }

    async def validate_return_condition(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        policy = self.services.policy
        condition = classify(str(value), policy.conditions, _CONDITION_WORDS, None)
        if condition is None:
            dispatcher.utter_message(text="Sorry, which of these best describes the item?")
            return {"return_condition": None}
        if not rules.condition_accepted(policy, condition):
            accepted = " or ".join(
                policy.conditions[c].lower() for c in sorted(policy.accepted_conditions)
            )
            dispatcher.utter_message(
                text=f"I'm sorry, we can only accept returns of items that are {accepted}, "
                "so I can't start this return. If you think the item is faulty, "
                "a person from our team can help."
            )
            return {"return_condition": condition, "request_blocked": True}
        return {"return_condition": condition}


class ActionAskReturnItems(ServicesMixin, Action):
    """Offer the returnable items of the verified order as buttons."""

    def name(self) -> Text:
        return "action_ask_return_items"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        try:
            order = await self.services.orders.get_order(tracker.get_slot("verified_order_id"))
        except OrderSystemUnavailable:
            dispatcher.utter_message(response="utter_order_system_down")
            return []
        items = (await _eligibility(self, order)).returnable_items if order else ()
        buttons = [
            {"title": item_line(item), "payload": f'/inform{{"return_items": "{item.sku}"}}'}
            for item in items
        ]
        buttons.append({"title": "All of them", "payload": '/inform{"return_items": "all"}'})
        dispatcher.utter_message(text="Which item would you like to return?", buttons=buttons)
        return []


class ActionSubmitReturn(VerifiedOrderAction):
    """Create the return in the order system and tell the customer what happens next."""

    def name(self) -> Text:
        return "action_submit_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        return events + [SlotSet(slot, None) for slot in RETURN_SLOTS]

    async def act(
        self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        policy = self.services.policy
        returnable = {i.sku: i for i in (await _eligibility(self, order)).returnable_items}
        items = [
            returnable[sku] for sku in tracker.get_slot("return_items") or [] if sku in returnable
        ]
        reason, condition = tracker.get_slot("return_reason"), tracker.get_slot("return_condition")
        if not items:
            dispatcher.utter_message(
                text="Those items can no longer be returned. A person can look into it."
            )
            return []
        if rules.needs_human_review(policy, items):
            dispatcher.utter_message(
                text=f"Returns worth more than {money(policy.human_review_above_cents)} "
                "are reviewed by our team, so I'm handing this one to a person "
                "with everything you've told me."
            )
            return await escalate(self, dispatcher, tracker, "business_rule")
        fee = rules.return_fee_cents(policy, reason)
        try:
            record = await self.services.orders.create_return(
                order.order_id, [i.sku for i in items], reason, condition, return_fee_cents=fee
            )
        except RequestRejected as exc:
            dispatcher.utter_message(text=f"Our order system couldn't create the return: {exc}")
            return []
        # The order system's amount is the one "where is my refund?" shows later, so quote it;
        # mention the fee only when the store actually deducted something.
        deducted = fee > 0 and record.refund_cents < sum(i.total_cents for i in items)
        fee_note = f" (after the {money(fee)} return shipping fee)" if deducted else ""
        dispatcher.utter_message(
            text=f"Done! Your return {record.return_id} for {items_sentence(items)} is open. "
            "We'll email a prepaid return label to the address on the order within the hour. "
            "Please send the parcel within 14 days. Once it arrives and is inspected, we refund "
            f"{money(record.refund_cents)}{fee_note} to your original payment method within "
            f"{policy.refund_business_days} business days."
        )
        await ask_followup(self, dispatcher, tracker, "return")
        return []


async def _eligibility(action: ServicesMixin, order: Order) -> rules.Eligibility:
    returns = await action.services.orders.get_returns(order.order_id)
    return rules.check_order(action.services.policy, order, action.services.today(), returns)


def ineligible_message(
    policy: rules.ReturnPolicy, order: Order, eligibility: rules.Eligibility
) -> str:
    """Why this order cannot be returned, politely and concretely."""
    problem = eligibility.problem
    if problem is rules.Ineligible.NOT_DELIVERED:
        status = order.status.value.replace("_", " ")
        return (
            f"Order {order.order_id} is {status}, and returns can only be started once an order "
            "is delivered. If you no longer want it, I can help you cancel an order "
            "that hasn't shipped."
        )
    if problem is rules.Ineligible.WINDOW_CLOSED:
        return (
            f"I'm sorry, order {order.order_id} was delivered on {day(order.delivered_on)}, "
            f"and our {policy.window_days}-day return window closed on "
            f"{day(eligibility.deadline)}. If an item is faulty it may still be covered by our "
            "warranty: ask me about the warranty."
        )
    if problem is rules.Ineligible.ALL_FINAL_SALE:
        return (
            f"I'm sorry, everything in order {order.order_id} was sold as final sale, "
            "so it can't be returned."
        )
    return (
        f"Everything returnable in order {order.order_id} is already part of a return. "
        'Ask me "where is my refund?" to see it.'
    )


def pick_items(value: Any, items: Sequence[OrderItem]) -> List[OrderItem]:
    """Which of ``items`` the customer means: SKUs, 'all', numbers, ordinals or names."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = str(value).lower()
    if _ALL_WORDS.search(text):
        return list(items)
    chosen = [item for item in items if item.sku.lower() in text]
    for number in re.findall(r"\b(\d{1,2})\b", text):
        if 1 <= int(number) <= len(items):
            chosen.append(items[int(number) - 1])
    for word, index in _ORDINALS.items():
        if re.search(rf"\b{word}\b", text) and items:
            chosen.append(items[index if index < 0 else min(index, len(items)) - 1])
    if not chosen:
        words = set(re.findall(r"[a-z]{3,}", text))
        chosen = [
            item for item in items if words & set(re.findall(r"[a-z]{3,}", item.name.lower()))
        ]
    return list(dict.fromkeys(chosen))


def classify(text: str, codes: dict, patterns: list, default: Any) -> Any:
    """Map a button code or free text to one of the policy's codes."""
    value = text.strip().lower()
    if value in codes:
        return value
    for code, pattern in patterns:
        if code in codes and re.search(pattern, value):
            return code
    return default
