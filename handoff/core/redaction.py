"""Mask card numbers, emails and phone numbers before customer text is stored or shown.

The same secrets are masked everywhere, at two strengths:

* transcripts and review items, read by CSRs and admins, keep enough to confirm with the
  customer: ``[card ending 4242]``, ``j***@example.com``, ``[phone ending 4567]``
  (:func:`mask_transcript_text`);
* training data keeps only placeholders: ``[card ending 4242]``, ``[email]``, ``[phone]``
  (:func:`mask_training_text`); a model must never learn an address or a number.

Social security numbers become ``[id number]`` in both. Order numbers (``A1006``),
tracking numbers, postcodes, dates and prices stay: a card number must pass the Luhn
check and a phone number must look like one (:func:`_is_phone`).

A CSR still gets the verified email: the bot keeps the real value in the Rasa tracker and
hands it over in the conversation's context (``slots`` and ``order``), not in a transcript.
"""

from __future__ import annotations

import re

# Not right after a letter: the digits that end a UPS tracking number (1ZH4P9200312345678)
# may pass the Luhn check by chance.
_CARD = re.compile(r"(?<![\w+])(?:\d[ -]?){12,18}\d(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# Digits as people write a phone number: a country code, an area code in parentheses,
# groups with one space, dot or dash between them. Whether it is one is _is_phone's call.
_NUMBER = re.compile(
    r"(?<![\w+])"  # not the middle of a word or of a longer number
    r"(?:\+ ?\d{1,4}[ .\-]?)?"  # +44, +1-
    r"(?:\(\d{1,5}\)[ .\-]?)?"  # (415), (0)
    r"\d+(?:[ .\-]\d+)*"
    r"(?!\w)"
)
# Words that make a bare run of digits a phone number ("call me on 4155550142").
_PHONE_CUE = re.compile(
    r"\b(?:phone|mobile|cell|tel|telephone|call|ring|text|sms|whatsapp|reach|contact|"
    r"landline|my number)\b\D{0,20}$",
    re.IGNORECASE,
)
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
# What mask_transcript_text leaves of an email or a phone number.
_MASKED_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]*\*{3}@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_MASKED_PHONE = re.compile(r"\[phone ending \d{1,4}\]")


def luhn_valid(digits: str) -> bool:
    """The checksum every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        return match.group()  # an order or tracking number, not a card
    return f"[card ending {digits[-4:]}]"


def _is_phone(number: str, before: str) -> bool:
    """Whether ``number`` (a ``_NUMBER`` match) is a phone number, given the text before it.

    International (``+`` or ``00``): 8 to 15 digits, as E.164 allows. Otherwise 10 or 11
    digits, a national number with its area code, written in groups or with the area code
    in parentheses; a bare run of digits only when it starts like a national (``0``) or a
    North American (``1`` and ten digits) number, or follows a word such as "call" or
    "phone". So order numbers, 12-digit FedEx, 22-digit USPS and 10-digit DHL-style
    tracking numbers, postcodes and dates stay.
    """
    digits = re.sub(r"\D", "", number)
    if number.startswith("+"):
        return 8 <= len(digits) <= 15
    if digits.startswith("00"):
        return 10 <= len(digits) <= 17
    if not 10 <= len(digits) <= 11:
        return False
    if not number.isdigit() or digits[0] == "0" or (digits[0] == "1" and len(digits) == 11):
        return True
    return _PHONE_CUE.search(before) is not None


def _mask_phone(match: re.Match) -> str:
    number = match.group()
    if not _is_phone(number, match.string[max(0, match.start() - 40) : match.start()]):
        return number
    digits = re.sub(r"\D", "", number)
    return f"[phone ending {digits[-4:]}]"


def _mask_email(match: re.Match) -> str:
    local, domain = match.group().split("@", 1)
    return f"{local[0]}***@{domain}"


def mask_transcript_text(text: str) -> str:
    """What CSRs and admins may read: ``[card ending 4242]``, ``j***@example.com``,
    ``[phone ending 4567]`` and ``[id number]``. Masking masked text changes nothing."""
    text = _EMAIL.sub(_mask_email, text)
    text = _NUMBER.sub(_mask_phone, text)  # before cards: a card is never a phone number
    text = _CARD.sub(_mask_card, text)
    return _SSN.sub("[id number]", text)


def mask_training_text(text: str) -> str:
    """What may become training data: emails and phone numbers only as ``[email]`` and
    ``[phone]``. Also right for text :func:`mask_transcript_text` already masked (a
    review item an admin labels)."""
    text = mask_transcript_text(text)
    text = _MASKED_EMAIL.sub("[email]", text)
    return _MASKED_PHONE.sub("[phone]", text)


def mask_card_and_id_numbers(text: str) -> str:
    """Only cards and id numbers: for text customers read, such as an FAQ answer, which may
    rightly give the shop's own email address and phone number."""
    return _SSN.sub("[id number]", _CARD.sub(_mask_card, text))
