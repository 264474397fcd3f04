"""The one scorer on hand-made (expected, predicted) pairs: what the test set, the benchmarks
and the retraining comparison all count with.
"""

from __future__ import annotations

import pytest

from bot.evaluation.scoring import (
    FALLBACK,
    Prediction,
    Rate,
    Report,
    accuracy,
    confusions,
    false_fallbacks,
    label_of,
    macro_f1,
    per_intent_f1,
    per_label_accuracy,
    per_tag_accuracy,
    percentile,
    rate,
    timing_ms,
)

PAIRS = [("a", "a"), ("a", "a"), ("a", "b"), ("b", "b"), ("c", "a")]


def test_label_of_a_parse_without_an_intent_is_the_fallback():
    assert label_of({}) == (FALLBACK, 0.0)
    assert label_of({"intent": {"name": "greet", "confidence": 0.8}}) == ("greet", 0.8)
    assert label_of({"intent": {"name": "faq", "confidence": 0.7}}) == ("faq", 0.7)


def test_rates_and_accuracy():
    assert rate([True, False, True]) == Rate(2, 3)
    assert accuracy(PAIRS) == Rate(3, 5) and accuracy(PAIRS).value == 0.6
    assert accuracy([]).value is None and str(accuracy([])) == "–"
    assert str(Rate(1, 3)) == "33.3% (1/3)"


def test_accuracy_per_label_and_per_tag():
    assert per_label_accuracy(PAIRS) == {"a": Rate(2, 3), "b": Rate(1, 1), "c": Rate(0, 1)}
    # a letter counts once per item, however often it appears in the tags
    assert per_tag_accuracy([("BZ", True), ("BBQ", False), ("Q", True)]) == {
        "B": Rate(1, 2),
        "Q": Rate(1, 2),
        "Z": Rate(1, 1),
    }


def test_per_intent_f1_and_macro_f1():
    f1 = per_intent_f1(PAIRS)
    # a: P=2/3 R=2/3 -> .6667; b: P=1/2 R=1 -> .6667; c: P=0 R=0 -> 0
    assert f1 == {"a": 0.6667, "b": 0.6667, "c": 0.0}
    assert macro_f1(f1) == pytest.approx((0.6667 * 2) / 3)
    assert per_intent_f1([("x", "x"), ("y", "y")]) == {"x": 1.0, "y": 1.0}
    assert per_intent_f1([]) == {} and macro_f1({}) == 0.0


def test_confusions_most_frequent_first_with_ties_in_order_of_appearance_or_by_name():
    pairs = [("b", "x"), ("a", "y"), ("b", "x"), ("a", "y"), ("c", "z"), ("a", "a")]
    assert confusions(pairs) == [(("b", "x"), 2), (("a", "y"), 2), (("c", "z"), 1)]
    assert confusions(pairs, ties_by_name=True) == [
        (("a", "y"), 2),
        (("b", "x"), 2),
        (("c", "z"), 1),
    ]
    assert confusions(pairs, top=1) == [(("b", "x"), 2)]


def test_confusions_with_rules_of_right_and_wrong():
    pairs = [("track_order", "order_status"), ("track_order", "greet"), ("x", "x")]
    right = [True, False, False]  # a label equal to the expected one may still be wrong
    assert confusions(pairs, right=right) == [(("track_order", "greet"), 1), (("x", "x"), 1)]


def test_false_fallbacks_count_the_fallback_and_out_of_scope():
    assert false_fallbacks(["greet", FALLBACK, "out_of_scope", "faq/x"]) == Rate(2, 4)


def test_percentiles_and_timing():
    assert percentile([], 0.5) == 0.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(101)], 0.95) == 95.0
    assert timing_ms([0.001, 0.002, 0.003]) == (2.0, 3.0)


def test_report_of_a_data_set():
    report = Report([Prediction(f"t{i}", e, p, 0.9, 0.01) for i, (e, p) in enumerate(PAIRS)])
    assert report.accuracy == 0.6 and report.pairs == PAIRS
    assert report.per_intent()["a"] == Rate(2, 3)
    assert report.confusions() == [(("a", "b"), 1), (("c", "a"), 1)]
    assert report.summary("test set") == (
        "test set: intent accuracy 60.0% (3/5)\n  confused a -> b: 1\n  confused c -> a: 1"
    )
    assert Report().accuracy == 0.0
