"""Whole conversations through the running bot: Rasa + action server + demo store."""

from __future__ import annotations

import pytest

from actions.orders.demo_store import seed_demo_store  # noqa: F401  (documents where the data comes from)

pytestmark = pytest.mark.model


def test_order_status_asks_for_proof_before_revealing_anything(customer):
    asked = customer.says("where is my order A1002?")
    assert "email address or the delivery postcode on order A1002" in asked
    answer = customer.says("94107")
    assert "Order A1002" in answer and "tracking number" in answer


def test_a_customer_without_an_order_number_verifies_by_email_and_picks_an_order(customer):
    assert "order number" in customer.says("I want to check on my order")
    assert "postcode" in customer.says("I don't have it, my email is jane.doe@example.com")
    choices = customer.says("94107")
    assert "Which one" in choices and "A1001" in choices
    assert "Order A1003" in customer.says('/inform{"order_id": "A1003"}')


def test_three_failed_verifications_stop_the_bot_and_offer_a_person(customer):
    customer.says("track order A1001")
    assert "2 tries left" in customer.says("11111")
    assert "1 try left" in customer.says("22222")
    final = customer.says("33333")
    assert "security" in final and "agent" in final
    again = customer.says("where is order A1002?")
    assert "security" in again


def test_a_full_return_gives_a_return_id(customer):
    customer.says("I'd like to return an item from order A1001")
    customer.says("jane.doe@example.com")
    asked_reason = customer.says('/inform{"return_reason": "damaged"}')
    assert "condition" in asked_reason
    done = customer.says('/inform{"return_condition": "defective"}')
    assert "Your return R" in done and "prepaid return label" in done


def test_a_faq_in_the_middle_of_a_form_is_answered_then_the_form_resumes(customer):
    customer.says("where is my package")
    faq = customer.says("how much does express shipping cost?")
    assert "$14.95" in faq
    assert "order number" in faq  # the form asks again
    assert "postcode" in customer.says("A1002")


def test_cancel_an_unshipped_order_after_confirming(customer):
    customer.says("please cancel order A1003")
    assert "Are you sure" in customer.says("jane.doe@example.com")
    assert "is cancelled" in customer.says("yes")


@pytest.mark.parametrize(
    "text", ["", "   ", "x" * 10_000, "😀🙏🔥", "¿Dónde está mi pedido?", "我的订单在哪里"]
)
def test_odd_input_gets_a_sensible_answer_and_no_error(customer, text):
    replies = customer.say(text)
    assert replies, "the bot said nothing"
    assert all(reply.get("text") for reply in replies)


def test_asking_for_a_person_is_acknowledged(customer):
    assert "person" in customer.says("let me talk to a human")
