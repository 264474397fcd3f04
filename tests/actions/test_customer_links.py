"""A customer who proves who they are gets the conversation linked to them, whatever the proof."""

from __future__ import annotations

from dataclasses import replace

from rasa_sdk.executor import CollectingDispatcher

from actions.order_status import ValidateOrderStatusForm
from handoff.core.customers import customer_key
from tests.support.actions import slot_values
from tests.support.trackers import tracker

FORM = "order_status_form"
JANE = "jane.doe@example.com"  # owns A1001 and A1002 in the demo store


async def validate(services, domain, sender_id, **kwargs):
    events = await ValidateOrderStatusForm(services).run(
        CollectingDispatcher(), tracker(active_loop=FORM, sender_id=sender_id, **kwargs), domain
    )
    return slot_values(events)


async def test_an_order_and_its_postcode_link_the_conversation_to_the_orders_email(
    services, domain
):
    slots = await validate(
        services, domain, "chat-1", slots={"order_id": "A1001"}, just_set={"verification": "94107"}
    )
    assert slots["verified_order_id"] == "A1001"
    customers = services.customers
    key = await customers.key_of_conversation("chat-1")
    assert key == customer_key(services.handoff_config.secret, JANE)
    assert await customers.order_ids(key) == ["A1001"]


async def test_an_email_and_postcode_link_every_order_of_that_email(services, domain):
    slots = await validate(
        services,
        domain,
        "chat-2",
        slots={"customer_email": JANE},
        just_set={"verification": "94107"},
    )
    assert slots["verified_email"] == JANE
    key = await services.customers.key_of_conversation("chat-2")
    assert set(await services.customers.order_ids(key)) >= {"A1001", "A1002"}


async def test_a_wrong_proof_links_nothing(services, domain):
    await validate(
        services, domain, "chat-3", slots={"order_id": "A1001"}, just_set={"verification": "00000"}
    )
    assert await services.customers.key_of_conversation("chat-3") is None


async def test_redis_being_down_does_not_stop_the_verification(services, domain, caplog):
    services.handoff_config = replace(services.handoff_config, redis_url="redis://127.0.0.1:1/0")
    slots = await validate(
        services, domain, "chat-4", slots={"order_id": "A1001"}, just_set={"verification": "94107"}
    )
    assert slots["verified_order_id"] == "A1001" and slots["requested_slot"] is None
    assert "could not link conversation chat-4" in caplog.text
