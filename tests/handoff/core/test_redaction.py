"""Card numbers, emails and phone numbers never reach transcripts, review items or training data."""

import pytest

from handoff.core.redaction import (
    luhn_valid,
    mask_card_and_id_numbers,
    mask_training_text,
    mask_transcript_text,
)


@pytest.mark.parametrize(
    "text",
    [
        "my card is 4242 4242 4242 4242",
        "card 4242-4242-4242-4242 exp 12/29",
        "4111111111111111",
        "amex 3782 822463 10005, please",
        "card no. 5555-5555-5555-4444.",
    ],
)
def test_card_numbers_are_masked_keeping_the_last_four(text):
    masked = mask_transcript_text(text)
    assert "[card ending " in masked
    assert "4242 4242" not in masked and "41111111" not in masked
    assert "822463" not in masked and "5555-5555" not in masked
    assert mask_training_text(text) == masked  # the same placeholder in training data


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("card 4242 4242 4242 4242 exp 12/29", "card [card ending 4242] exp 12/29"),
        ("amex 3782 822463 10005, please", "amex [card ending 0005], please"),
        ("card no. 5555-5555-5555-4444.", "card no. [card ending 4444]."),
    ],
)
def test_the_rest_of_a_message_with_a_card_stays_as_written(text, masked):
    assert mask_transcript_text(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("I'm jane.doe@example.com", "I'm j***@example.com"),
        ("jane.doe+orders@example.co.uk please", "j***@example.co.uk please"),
        ("mail JO@Example.COM.", "mail J***@Example.COM."),
        ("x_1-y@mail-01.shop.example, thanks", "x***@mail-01.shop.example, thanks"),
    ],
)
def test_emails_are_masked_keeping_the_first_letter_and_the_domain(text, masked):
    assert mask_transcript_text(text) == masked
    assert "[email]" in mask_training_text(text) and "***" not in mask_training_text(text)


@pytest.mark.parametrize(
    ("text", "last_four"),
    [
        ("(415) 555-0142", "0142"),
        ("415-555-0142", "0142"),
        ("415.555.0142", "0142"),
        ("1-800-555-0199", "0199"),
        ("+1 (415) 555-0142", "0142"),
        ("+1-415-555-0142", "0142"),
        ("+14155550142", "0142"),
        ("+44 20 7946 0958", "0958"),
        ("+44 (0)20 7946 0958", "0958"),
        ("0044 20 7946 0958", "0958"),
        ("020 7946 0958", "0958"),
        ("07700 900123", "0123"),
        ("07700900123", "0123"),
        ("+49 30 12345678", "5678"),
        ("+33 1 23 45 67 89", "6789"),
        ("+91 98765 43210", "3210"),
        ("+86 138 0013 8000", "8000"),
        ("+61 412 345 678", "5678"),
        ("03-1234-5678", "5678"),
        ("14155550142", "0142"),
    ],
)
def test_phone_numbers_are_masked_keeping_the_last_four(text, last_four):
    message = f"you can reach me on {text}, thanks"
    assert (
        mask_transcript_text(message) == f"you can reach me on [phone ending {last_four}], thanks"
    )
    assert mask_training_text(message) == "you can reach me on [phone], thanks"


@pytest.mark.parametrize(
    "text",
    ["call me on 4155550142", "my number is 4155550142", "text me at 4155550142 after 6"],
)
def test_ten_bare_digits_are_a_phone_number_when_the_customer_says_so(text):
    assert "[phone ending 0142]" in mask_transcript_text(text)
    assert "4155550142" not in mask_training_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "order A1006",
        "order A1042",
        "where is A1002? postcode 94107",
        "order 100234567",
        "tracking 1ZH4P9200312345678",  # UPS: its last 13 digits pass the Luhn check
        "tracking 1Z999AA10123456784",
        "tracking 771234567890",  # FedEx
        "tracking 4829301756",  # DHL
        "tracking 9400111899223344556677",  # USPS
        "tracking 9400 1118 9922 3344 5566 77",
        "call 1234567890123 ref",
        "ordered on 2024-03-15 at 14:30, delivered 15.03.2024",
        "it cost $1,299.99 for 2 chairs",
        "ref 1700000000",
        "0123",
    ],
)
def test_order_tracking_and_other_numbers_are_left_alone(text):
    assert mask_transcript_text(text) == text
    assert mask_training_text(text) == text


def test_transcripts_keep_enough_to_confirm_and_training_data_only_placeholders():
    text = (
        "I'm jane.doe+shop@example.com, order A1006, call me on (415) 555-0142 or "
        "+44 20 7946 0958, card 4242 4242 4242 4242"
    )
    assert mask_transcript_text(text) == (
        "I'm j***@example.com, order A1006, call me on [phone ending 0142] or "
        "[phone ending 0958], card [card ending 4242]"
    )
    assert mask_training_text(text) == (
        "I'm [email], order A1006, call me on [phone] or [phone], card [card ending 4242]"
    )


@pytest.mark.parametrize(
    "text",
    [
        "I'm jane.doe+shop@example.com, call (415) 555-0142, card 4242-4242-4242-4242",
        "ssn 123-45-6789 and +44 20 7946 0958",
        "nothing secret in A1006",
    ],
)
def test_masking_masked_text_changes_nothing(text):
    once = mask_transcript_text(text)
    assert mask_transcript_text(once) == once
    # A review item (transcript-masked) becomes the same training example as the raw message.
    assert mask_training_text(once) == mask_training_text(text)


def test_faq_answers_keep_the_shops_contact_details_but_never_a_card():
    answer = "Call 1-800-555-0142 or email support@harborandpine.example; card 4242424242424242"
    assert mask_card_and_id_numbers(answer) == (
        "Call 1-800-555-0142 or email support@harborandpine.example; card [card ending 4242]"
    )


def test_ssn_is_masked():
    assert mask_transcript_text("ssn 123-45-6789") == "ssn [id number]"


def test_luhn():
    assert luhn_valid("4242424242424242") and not luhn_valid("4242424242424241")
