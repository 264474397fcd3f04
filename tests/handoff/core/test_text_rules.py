"""The one rule for text from customers, CSRs and admins."""

import re

import pytest

from handoff.core import errors
from handoff.core.text_rules import check_name, check_text

ACCEPTED = [
    "Where is my order A1006?",
    "Où est ma commande ? Merci beaucoup",
    "注文はどこですか",
    "مرحبا، أين طلبي؟",
    "thanks 👍🏽 👨‍👩‍👧 ❤️",  # skin tone, zero-width joiners, variation selector
    "line one\nline two\tindented",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_text_in_any_language_and_emoji_passes_unchanged(text):
    assert check_text(text, "text", max_chars=200) == text


def test_windows_line_breaks_become_newlines():
    assert check_text("a\r\nb\rc", "text", max_chars=20) == "a\nb\nc"


@pytest.mark.parametrize(
    "char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9c", "\x9f", "\ud800", "\udfff", "\uffff"]
)
def test_control_characters_and_lone_surrogates_are_refused_by_code_point(char):
    with pytest.raises(errors.InvalidInput) as caught:
        check_text(f"hello{char}world", "answer", max_chars=200)
    assert caught.value.code == "invalid_text"
    assert f"U+{ord(char):04X}" in caught.value.message
    assert "`answer`" in caught.value.message and "position 5" in caught.value.message


@pytest.mark.parametrize("value", [None, "", "   \n\t"])
def test_empty_text_is_refused_when_required(value):
    with pytest.raises(errors.InvalidInput):
        check_text(value, "text", max_chars=10)


def test_optional_text_may_be_missing():
    assert check_text(None, "note", max_chars=10, required=False) == ""


def test_non_strings_are_refused():
    with pytest.raises(errors.InvalidInput, match="must be a string"):
        check_text(["hi"], "text", max_chars=10)


def test_oversize_text_is_refused_by_name():
    with pytest.raises(errors.InvalidInput, match="limited to 5") as caught:
        check_text("abcdef", "text", max_chars=5)
    assert caught.value.code == "text_too_long"


def test_names_must_match_in_full():
    snake = re.compile(r"[a-z][a-z0-9_]*")
    name = check_name("opening_hours", "topic", snake, max_chars=20, hint="snake_case")
    assert name == "opening_hours"
    for bad in ["Opening", "opening\n", "a" * 21, 3, None]:
        with pytest.raises(errors.InvalidInput) as caught:
            check_name(bad, "topic", snake, max_chars=20, hint="snake_case")
        assert caught.value.code == "invalid_name"
