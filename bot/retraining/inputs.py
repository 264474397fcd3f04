"""The admin's input to the retraining tools, checked with the product's one text rule.

:mod:`handoff.core.text_rules` decides what text may be stored anywhere (no control
characters but newline and tab, no lone surrogates; any language and emoji pass). This
module only names each field's limits and turns a refusal into the tool's own error, so
the admin API keeps one code per tool (``invalid_faq``, ``invalid_label``,
``invalid_filter``) and always answers 400 with the rule's message.
"""

from __future__ import annotations

import re
from typing import Any, Pattern, Type

from bot.retraining.errors import InvalidInput
from handoff.core import errors, text_rules

TOPIC = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# Rasa accepts more, but every intent of domain.yml and faq/<topic> looks like this.
INTENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.-]+)?")
MAX_NAME = 100


def text(
    value: Any, field: str, error: Type[InvalidInput], *, max_chars: int, required: bool = True
) -> str:
    """``value`` as storable text, or ``error`` with the shared rule's message."""
    try:
        return text_rules.check_text(value, field, max_chars=max_chars, required=required)
    except errors.InvalidInput as exc:  # too long included: a field limit, not a body limit
        raise error(exc.message) from None


def name(
    value: Any,
    field: str,
    error: Type[InvalidInput],
    pattern: Pattern[str],
    *,
    hint: str,
    max_chars: int = MAX_NAME,
) -> str:
    """``value`` as an identifier matching ``pattern``, or ``error`` saying what it must be."""
    try:
        return text_rules.check_name(value, field, pattern, max_chars=max_chars, hint=hint)
    except errors.InvalidInput as exc:
        raise error(exc.message) from None


def one_of(value: Any, field: str, error: Type[InvalidInput], choices: tuple) -> str:
    """``value`` if it is one of ``choices`` (a closed list such as the label actions).

    Stricter than any text rule, so it needs none; the refusal quotes at most 40
    characters of what came, whatever its type.
    """
    if isinstance(value, str) and value in choices:
        return value
    shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
    raise error(f"`{field}` must be one of {', '.join(choices)}, not {shown}")


def training_text(value: str, error: Type[InvalidInput]) -> str:
    """Text logged before validation existed (an old review item) that may become training data.

    Customer messages were not checked when they were logged, so one may still hold a
    character no data file can; labelling it must say so instead of writing a bad file.
    """
    index = text_rules.first_forbidden(value)
    if index is not None:
        char = text_rules.describe(value[index])
        raise error(
            f"this message contains {char} and cannot become training data; ignore it instead"
        )
    return value
