"""What text the product accepts from anyone: customers, CSRs and admins.

One rule for every edge, because the same text travels: a customer's message becomes a
transcript line, a review item and then training data in a YAML file. So text is refused
where it comes in if any later step could not store it faithfully: control characters
other than newline and tab, unpaired surrogates (JSON can carry them, UTF-8 cannot) and
the two non-characters U+FFFE/U+FFFF, which YAML cannot hold. Any language, any emoji
(joiners and variation selectors included) passes. A Windows line break (CR LF) is a
newline, not a refusal.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Optional, Pattern

from handoff.core.errors import InvalidInput

_ALLOWED_CONTROLS = {"\n", "\t"}
_NONCHARACTERS = {"\ufffe", "\uffff"}


def first_forbidden(text: str) -> Optional[int]:
    """The index of the first character no stored text may hold, or None."""
    for index, char in enumerate(text):
        if char in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or char in _NONCHARACTERS:
            return index
    return None


def describe(char: str) -> str:
    """A character as a person can find it: ``U+009C``."""
    return f"U+{ord(char):04X}"


def check_text(
    value: Any,
    field: str,
    *,
    max_chars: int,
    required: bool = True,
) -> str:
    """``value`` as text that can be stored anywhere, or a 400 saying what is wrong.

    Args:
        value: What the request carried.
        field: Its name in the request, for the message (``text``, ``answer``...).
        max_chars: The longest text accepted.
        required: Whether empty or whitespace-only text is refused.

    Returns:
        The text with CR LF and lone CR turned into newlines, otherwise unchanged.

    Raises:
        InvalidInput: not a string, empty when required (``empty_text``), longer than
            ``max_chars`` (``text_too_long``) or a forbidden character (``invalid_text``).
    """
    if value is None:
        if required:
            raise InvalidInput(f"`{field}` is required", code="empty_text")
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"`{field}` must be a string")
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if required and not text.strip():
        raise InvalidInput(f"`{field}` must not be empty", code="empty_text")
    if len(text) > max_chars:
        raise InvalidInput(f"`{field}` is limited to {max_chars} characters", code="text_too_long")
    index = first_forbidden(text)
    if index is not None:
        raise InvalidInput(
            f"`{field}` contains the control character {describe(text[index])} at position "
            f"{index}; only letters, digits, punctuation, emoji, newlines and tabs are allowed",
            code="invalid_text",
        )
    return text


def check_name(value: Any, field: str, pattern: Pattern[str], *, max_chars: int, hint: str) -> str:
    """An identifier (a topic, an intent, a username) that must match ``pattern`` in full.

    Raises:
        InvalidInput: not a string, too long, or not matching; the message gives ``hint``.
    """
    if not isinstance(value, str) or len(value) > max_chars or not pattern.fullmatch(value):
        shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
        raise InvalidInput(
            f"`{field}` must be {hint}, at most {max_chars} characters, not {shown}",
            code="invalid_name",
        )
    return value
