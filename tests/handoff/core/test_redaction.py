"""Secrets never reach transcripts or training data."""

import pytest

from handoff.core.redaction import luhn_valid, mask_training_text, mask_transcript_text


@pytest.mark.parametrize(
    "text",
    [
        "my card is 4242 4242 4242 4242",
        "card 4242-4242-4242-4242 exp 12/29",
        "4111111111111111",
    ],
)
def test_card_numbers_are_masked_keeping_the_last_four(text):
    masked = mask_transcript_text(text)
    assert "[card ending " in masked
    assert "4242 4242" not in masked and "41111111" not in masked


@pytest.mark.parametrize(
    "text",
    [
        "order 100234567",
        "tracking 1Z999AA10123456784",
        "order A1042",
        "call 1234567890123 ref",
    ],
)
def test_order_and_tracking_numbers_are_left_alone(text):
    assert mask_transcript_text(text) == text


def test_training_text_also_loses_emails_and_phone_numbers_but_transcripts_keep_them():
    text = "I'm jane.doe@example.com, call me on (415) 555-0142 or +44 20 7946 0958"
    assert mask_transcript_text(text) == text
    masked = mask_training_text(text)
    assert "jane.doe" not in masked and "555" not in masked and "7946" not in masked
    assert masked.count("[phone]") == 2 and "[email]" in masked


def test_ssn_is_masked():
    assert mask_transcript_text("ssn 123-45-6789") == "ssn [id number]"


def test_luhn():
    assert luhn_valid("4242424242424242") and not luhn_valid("4242424242424241")
