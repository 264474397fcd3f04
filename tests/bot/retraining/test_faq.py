"""New FAQ entries: examples into the reviewed file, the answer appended to the hand-written
responses.
"""

from __future__ import annotations

import difflib

import pytest

from bot.retraining.errors import InvalidFaq
from bot.retraining.faq import add_faq
from bot.retraining.labels import known_intents
from bot.retraining.nlu_data import read_examples
from tests.support.project import REPO

ANSWER = 'Our showroom in Portland is open 10 am–6 pm, "Tuesday" to Saturday.'


def test_add_faq_keeps_the_hand_written_responses_file_intact(retraining_config):
    entry = add_faq(
        retraining_config,
        "showroom_hours",
        ["when is the showroom open", "Showroom opening hours?", "when is the  showroom open"],
        ANSWER,
    )
    assert entry.intent == "faq/showroom_hours" and entry.response == "utter_faq/showroom_hours"
    assert entry.examples == ["Showroom opening hours?", "when is the showroom open"]
    before = (REPO / "data/responses/faq.yml").read_text().splitlines()
    after = retraining_config.path(retraining_config.faq_responses_file).read_text().splitlines()
    added = [line for line in difflib.ndiff(before, after) if line[:2] in ("+ ", "- ")]
    # Only two lines appended: every comment, quote and long line of the original stays as it was.
    assert added == [
        "+   utter_faq/showroom_hours:",
        '+     - text: "Our showroom in Portland is open 10 am–6 pm, \\"Tuesday\\" to Saturday."',
    ]
    assert read_examples(retraining_config.path(retraining_config.reviewed_file)) == {
        "faq/showroom_hours": ["Showroom opening hours?", "when is the showroom open"]
    }
    assert "faq/showroom_hours" in known_intents(retraining_config)


def test_rasa_reads_the_new_answer(retraining_config):
    from rasa.shared.nlu.training_data.loading import load_data

    add_faq(retraining_config, "showroom_hours", ["showroom open?", "showroom hours"], ANSWER)
    data = load_data(str(retraining_config.path(retraining_config.faq_responses_file)))
    assert data.responses["utter_faq/showroom_hours"] == [{"text": ANSWER}]


def test_card_numbers_never_reach_an_answer_or_an_example(retraining_config):
    entry = add_faq(
        retraining_config,
        "card_help",
        ["my card 4242424242424242 failed", "the card reader thing broke"],
        "Card 4242 4242 4242 4242 must be re-entered.",
    )
    assert "4242424242424242" not in str(entry.examples)
    assert entry.answer == "Card [card ending 4242] must be re-entered."


@pytest.mark.parametrize(
    "topic, examples, answer, message",
    [
        ("Showroom Hours", ["a b", "c d"], ANSWER, "snake_case"),
        ("showroom-hours", ["a b", "c d"], ANSWER, "snake_case"),
        ("shipping_times", ["a b", "c d"], ANSWER, "exists already"),
        ("showroom_hours", ["only one"], ANSWER, "at least 2"),
        ("showroom_hours", ["same one", "Same  one"], ANSWER, "at least 2"),
        ("showroom_hours", "not a list", ANSWER, "list of strings"),
        ("showroom_hours", ["a b", "c d"], "   ", "must not be empty"),
        (
            "showroom_hours",
            ["how long does shipping take", "showroom"],
            ANSWER,
            "faq/shipping_times",
        ),
    ],
)
def test_bad_entries_are_refused_and_change_nothing(
    retraining_config, topic, examples, answer, message
):
    responses = retraining_config.path(retraining_config.faq_responses_file)
    before = responses.read_text()
    with pytest.raises(InvalidFaq, match=message):
        add_faq(retraining_config, topic, examples, answer)
    assert responses.read_text() == before
    assert not retraining_config.path(retraining_config.reviewed_file).exists()


def test_the_same_topic_twice_is_refused(retraining_config):
    add_faq(retraining_config, "showroom_hours", ["showroom open?", "showroom hours"], ANSWER)
    with pytest.raises(InvalidFaq, match="exists already"):
        add_faq(retraining_config, "showroom_hours", ["x y", "z w"], ANSWER)


# ---- issue #16: nothing an admin types can corrupt the data files -------------------------------


@pytest.mark.parametrize(
    "examples, answer, message",
    [
        (["gift wrap?", "wrap it \x9c please"], ANSWER, r"`examples\[1\]` contains .* U\+009C"),
        (["gift wrap?", "wrap it please"], "Yes \x9f we do", r"`answer` contains .* U\+009F"),
        (["gift wrap?", "half an emoji \ud83c"], ANSWER, r"U\+D83C"),
        (["gift wrap?", None], ANSWER, r"`examples\[1\]` must be a string, not NoneType"),
        (["gift wrap?", "x" * 2001], ANSWER, "limited to 2000 characters"),
        ([f"question {n}" for n in range(101)], ANSWER, "at most 100 example questions"),
        (["gift wrap?", "wrap it please"], {"text": "yes"}, "`answer` must be a string"),
    ],
)
def test_text_no_data_file_can_hold_is_refused_before_anything_is_written(
    retraining_config, examples, answer, message
):
    responses = retraining_config.path(retraining_config.faq_responses_file)
    before = responses.read_bytes()
    with pytest.raises(InvalidFaq, match=message):
        add_faq(retraining_config, "gift_wrapping", examples, answer)
    assert responses.read_bytes() == before
    assert not retraining_config.path(retraining_config.reviewed_file).exists()


def test_a_topic_with_a_trailing_newline_is_refused(retraining_config):
    # TOPIC.match with `$` let "gift\n" through, and utter_faq/gift\n became a response name.
    with pytest.raises(InvalidFaq, match="snake_case"):
        add_faq(retraining_config, "gift\n", ["gift wrap?", "wrap it please"], ANSWER)


def test_any_language_and_emoji_are_written_as_sent(retraining_config):
    from rasa.shared.nlu.training_data.loading import load_data

    examples = ["ギフト包装はできますか？", "подарочная упаковка 🎁", "👩‍👩‍👧 gift ❤️ 🇯🇵"]
    answer = "はい！ Да! Tick 'gift wrap' 🎁 at checkout — it's free.\nThank you 🙏🏽"
    entry = add_faq(retraining_config, "gift_wrapping", examples, answer)
    assert entry.answer == answer and sorted(entry.examples) == sorted(examples)
    responses = load_data(str(retraining_config.path(retraining_config.faq_responses_file)))
    assert responses.responses["utter_faq/gift_wrapping"] == [{"text": answer}]
    reviewed = load_data(str(retraining_config.path(retraining_config.reviewed_file)))
    assert sorted(m.get("text") for m in reviewed.intent_examples) == sorted(examples)
    assert "ギフト包装" in retraining_config.path(retraining_config.reviewed_file).read_text()
