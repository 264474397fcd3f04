"""Mask secrets in customer text before it is stored in transcripts or training data.

Card numbers are always masked (only the last four digits stay, so a CSR can
still say "the card ending 4242"). Emails and phone numbers are masked only for
training data: a CSR needs them to help, a model must never learn them.
"""

from __future__ import annotations

import re

_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(
    r"(?<![\w])(?:\+?\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)|\d{2,4})[ .\-]?\d{3,4}[ .\-]?\d{3,4}(?![\w])"
)
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")


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


def mask_transcript_text(text: str) -> str:
    """What may be kept in a transcript: cards and social security numbers masked."""
    return _SSN.sub("[id number]", _CARD.sub(_mask_card, text))


def mask_training_text(text: str) -> str:
    """What may become training data: also no emails or phone numbers."""
    text = mask_transcript_text(text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)
