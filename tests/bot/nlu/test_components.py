"""The guard that turns unreadable messages into NLU fallbacks."""

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.components import UnreadableTextGuard


def classified(text: str) -> Message:
    message = Message(
        data={
            "text": text,
            "intent": {"name": "order_status", "confidence": 0.97},
            "intent_ranking": [{"name": "order_status", "confidence": 0.97}],
        }
    )
    return UnreadableTextGuard().process([message])[0]


@pytest.mark.parametrize("text", ["😀🙏🔥", "我的订单在哪里", "Где мой заказ", "", "  ?! "])
def test_text_without_latin_letters_or_digits_falls_back_with_no_confidence(text):
    message = classified(text)
    assert message.get("intent") == {"name": "nlu_fallback", "confidence": 0.0}
    assert message.get("intent_ranking") == [{"name": "nlu_fallback", "confidence": 0.0}]


@pytest.mark.parametrize(
    "text", ["A1042", "94107", "¿Dónde está mi pedido?", "where is my order 😀"]
)
def test_anything_with_a_latin_letter_or_digit_is_left_to_the_classifier(text):
    assert classified(text).get("intent")["name"] == "order_status"
