"""The benchmark scoring rules on small hand-made rows (no model, no benchmark files)."""

from __future__ import annotations

import pytest

from bot.evaluation.datasets import Row
from bot.evaluation.rules import accepts, aggregate, confusions, per_tag, score
from bot.evaluation.scoring import Rate
from tests.bot.evaluation.samples import MAPPING


def test_faq_accepts_any_faq_topic_but_nothing_else():
    assert accepts(frozenset({"faq"}), "faq/return_policy")
    assert accepts(frozenset({"faq"}), "faq")
    assert not accepts(frozenset({"faq"}), "faqs")
    assert not accepts(frozenset({"faq"}), "return_request")
    assert accepts(frozenset({"order_status"}), "order_status")


@pytest.mark.parametrize(
    "source, predicted, right, fell_back",
    [
        ("track_order", "order_status", True, False),
        ("track_order", "faq/shipping_times", False, False),
        ("track_order", "nlu_fallback", False, True),
        ("track_order", "out_of_scope", False, True),
        ("get_refund", "refund_status", True, False),
        ("get_refund", "return_request", True, False),
        ("check_refund_policy", "faq/return_policy", True, False),
        ("check_refund_policy", "return_request", False, False),
        # unsupported: anything but a transaction on the order is safe, including the fallback
        ("create_account", "faq/account_management", True, False),
        ("create_account", "nlu_fallback", True, True),
        ("create_account", "greet", True, False),
        ("create_account", "order_status", False, False),
        ("create_account", "cancel_order", False, False),
        ("create_account", "refund_status", False, False),
        ("create_account", "return_request", False, False),
        # out of scope: only the fallback or out_of_scope are right
        ("oos", "nlu_fallback", True, True),
        ("oos", "out_of_scope", True, True),
        ("oos", "faq/contact", False, False),
        ("oos", "greet", False, False),
    ],
)
def test_score_follows_the_benchmark_rules(source, predicted, right, fell_back):
    outcome = score(Row("some text", source, "BL"), predicted, MAPPING)
    assert (outcome.right, outcome.fell_back) == (right, fell_back)
    assert outcome.kind == MAPPING[source].kind
    assert outcome.tags == "BL"


def test_score_names_an_unmapped_source_intent():
    with pytest.raises(KeyError, match="not_mapped"):
        score(Row("x", "not_mapped"), "greet", MAPPING)


def _outcomes(*pairs, tags=None):
    tags = tags or [""] * len(pairs)
    return [score(Row("t", s, tag), p, MAPPING) for (s, p), tag in zip(pairs, tags, strict=True)]


def test_aggregate_rates():
    outcomes = _outcomes(
        ("track_order", "order_status"),
        ("track_order", "nlu_fallback"),
        ("check_refund_policy", "faq/return_policy"),
        ("get_refund", "out_of_scope"),
        ("create_account", "faq/account_management"),
        ("create_account", "order_status"),
        ("oos", "nlu_fallback"),
        ("oos", "out_of_scope"),
        ("oos", "greet"),
    )
    scores = aggregate(outcomes)
    assert scores.core_accuracy == Rate(2, 4)
    assert scores.false_fallback == Rate(2, 4)  # both the fallback and out_of_scope count
    assert scores.unsupported_safe == Rate(1, 2)
    assert scores.oos_recall == Rate(2, 3)


def test_aggregate_of_a_file_without_a_kind_has_no_rate():
    scores = aggregate(_outcomes(("oos", "nlu_fallback")))
    assert scores.core_accuracy.value is None
    assert str(scores.core_accuracy) == "–"
    assert str(scores.oos_recall) == "100.0% (1/1)"


def test_a_message_counts_for_every_letter_of_its_tags():
    outcomes = _outcomes(
        ("track_order", "order_status"),
        ("track_order", "greet"),
        ("create_account", "greet"),
        tags=["BZ", "BQZ", "KQ"],
    )
    assert per_tag(outcomes) == {"B": Rate(1, 2), "K": Rate(1, 1), "Q": Rate(1, 2), "Z": Rate(1, 2)}


def test_confusions_count_wrong_outcomes_most_frequent_first():
    outcomes = _outcomes(
        ("track_order", "greet"),
        ("track_order", "greet"),
        ("oos", "faq/contact"),
        ("track_order", "order_status"),
        ("create_account", "order_status"),
    )
    assert confusions(outcomes) == [
        (("track_order", "greet"), 2),
        (("create_account", "order_status"), 1),
        (("oos", "faq/contact"), 1),
    ]
    assert confusions(outcomes, top=1) == [(("track_order", "greet"), 2)]
