"""Finding and verifying an order, through the status form's validation action."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.order_status import ActionOrderStatus, ValidateOrderStatusForm
from actions.orders.adapter import OrderSystemUnavailable
from tests.support.actions import slot_values, texts
from tests.support.trackers import tracker

FORM = "order_status_form"


async def validate(services, domain, **kwargs):
    dispatcher = CollectingDispatcher()
    events = await ValidateOrderStatusForm(services).run(
        dispatcher, tracker(active_loop=FORM, **kwargs), domain
    )
    return slot_values(events), texts(dispatcher)


async def test_a_known_order_number_in_any_shape_is_accepted_then_proof_is_asked(services, domain):
    slots, _ = await validate(services, domain, just_set={"order_id": "#a-1001"})
    assert slots["order_id"] == "A1001"
    assert slots["requested_slot"] == "verification"


async def test_an_unknown_order_number_is_refused_politely(services, domain):
    slots, said = await validate(services, domain, just_set={"order_id": "A9999"})
    assert slots["order_id"] is None and slots["requested_slot"] == "order_id"
    assert "couldn't find an order with the number A9999" in said


async def test_the_email_or_postcode_on_the_order_verifies_it(services, domain):
    for proof in ("Jane.Doe@example.com", "94107"):
        slots, said = await validate(
            services, domain, slots={"order_id": "A1001"}, just_set={"verification": proof}
        )
        assert slots["verified_order_id"] == "A1001"
        assert slots["requested_slot"] is None  # form done: the answer comes next
        assert "matches our records" in said


async def test_three_wrong_proofs_lock_lookups_for_the_conversation(services, domain):
    state = {"order_id": "A1001"}
    for attempt, left in ((1, "2 tries left"), (2, "1 try left")):
        slots, said = await validate(
            services, domain, slots=state, just_set={"verification": "wrong@example.com"}
        )
        assert slots["failed_verifications"] == attempt and left in said
        assert "verified_order_id" not in slots
        state = {**state, "failed_verifications": attempt}
    slots, _ = await validate(services, domain, slots=state, just_set={"verification": "00000"})
    assert slots["verification_locked"] is True and slots["requested_slot"] is None

    dispatcher = CollectingDispatcher()
    await ActionOrderStatus(services).run(dispatcher, tracker({**state, **slots}), domain)
    assert dispatcher.messages[0]["response"] == "utter_verification_locked"


async def test_email_and_postcode_let_a_customer_pick_among_their_orders(services, domain):
    slots, _ = await validate(services, domain, just_set={"customer_email": "JANE.DOE@example.com"})
    assert slots["requested_slot"] == "verification"
    slots, _ = await validate(
        services,
        domain,
        slots={"customer_email": "jane.doe@example.com"},
        just_set={"verification": "94107"},
    )
    assert slots["verified_email"] == "jane.doe@example.com"
    assert slots["requested_slot"] == "order_id"  # several orders: the customer picks one
    slots, _ = await validate(
        services,
        domain,
        slots={"verified_email": "jane.doe@example.com"},
        just_set={"order_id": "A1002"},
    )
    assert slots["verified_order_id"] == "A1002"


async def test_picking_someone_elses_order_after_email_verification_still_needs_proof(
    services, domain
):
    other = next(o for o in await services.orders.find_orders_by_email("jane.doe@example.com"))
    stranger = await _order_of_another_customer(services, other.email)
    slots, _ = await validate(
        services,
        domain,
        slots={"verified_email": "jane.doe@example.com"},
        just_set={"order_id": stranger},
    )
    assert "verified_order_id" not in slots


async def test_order_status_answer_has_carrier_tracking_and_date(services, domain):
    dispatcher = CollectingDispatcher()
    state = {"order_id": "A1002", "verified_order_id": "A1002"}
    await ActionOrderStatus(services).run(dispatcher, tracker(state), domain)
    order = await services.orders.get_order("A1002")
    said = texts(dispatcher)
    assert order.tracking_number in said and order.carrier in said and "Expected delivery" in said


async def test_an_unreachable_order_system_stops_the_form_and_is_said_honestly(services, domain):
    class Down:
        async def get_order(self, order_id):
            raise OrderSystemUnavailable("timeout")

    services.orders = Down()
    slots, _ = await validate(services, domain, just_set={"order_id": "A1001"})
    assert slots["order_system_unavailable"] is True and slots["requested_slot"] is None
    dispatcher = CollectingDispatcher()
    events = await ActionOrderStatus(services).run(
        dispatcher, tracker({"order_id": "A1001", **slots}), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_order_system_down"
    assert slot_values(events) == {"order_system_unavailable": False}


async def _order_of_another_customer(services, email):
    for number in range(1001, 1100):
        order = await services.orders.get_order(f"A{number}")
        if order and order.email != email:
            return order.order_id
    raise AssertionError("the demo store has only one customer")
