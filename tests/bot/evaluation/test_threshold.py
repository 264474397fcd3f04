"""The fallback threshold recomputed from stored parses, and its choice (hand-made parses)."""

from __future__ import annotations

import pytest

from bot.evaluation.datasets import Row
from bot.evaluation.scoring import Rate, label_of
from bot.evaluation.threshold import CurvePoint, choose_threshold, relabel, threshold_curve
from tests.bot.evaluation.samples import MAPPING, rasa_parse


def test_relabel_applies_the_threshold_to_the_top_non_fallback_intent():
    parse = rasa_parse(("order_status", 0.6), ("cancel_order", 0.2))
    assert relabel(parse, 0.0) == "order_status"
    assert relabel(parse, 0.6) == "order_status"  # Rasa falls back only strictly below
    assert relabel(parse, 0.65) == "nlu_fallback"


def test_relabel_undoes_a_fallback_the_model_already_applied():
    live = rasa_parse(("nlu_fallback", 0.55), ("order_status", 0.5), ("cancel_order", 0.2))
    assert label_of(live)[0] == "nlu_fallback"
    assert relabel(live, 0.45) == "order_status"
    assert relabel(live, 0.55) == "nlu_fallback"


def test_relabel_keeps_the_ambiguity_rule():
    parse = rasa_parse(("order_status", 0.48), ("cancel_order", 0.44))
    assert relabel(parse, 0.3) == "order_status"
    assert relabel(parse, 0.3, ambiguity_threshold=0.08) == "nlu_fallback"


@pytest.mark.parametrize("selector_key", ["faq", "default"])
def test_relabel_and_label_of_name_the_faq_topic(selector_key):
    parse = rasa_parse(("faq", 0.9), ("greet", 0.05), topic="warranty", selector_key=selector_key)
    assert label_of(parse)[0] == "faq/warranty"
    assert relabel(parse, 0.5) == "faq/warranty"


def test_threshold_curve_and_choice():
    core_side = [
        (Row("a", "track_order"), rasa_parse(("order_status", 0.9), ("greet", 0.05))),
        (Row("b", "track_order"), rasa_parse(("order_status", 0.5), ("greet", 0.1))),
        (
            Row("c", "check_refund_policy"),
            rasa_parse(("faq", 0.7), ("greet", 0.1), topic="return_policy"),
        ),
    ]
    oos_side = [
        (Row("x", "oos"), rasa_parse(("greet", 0.4), ("thank", 0.1))),
        (Row("y", "oos"), rasa_parse(("faq", 0.6), ("greet", 0.1), topic="contact")),
    ]
    curve = threshold_curve(oos_side, core_side, MAPPING, [0.0, 0.45, 0.55, 0.75])
    assert [p.oos_recall for p in curve] == [Rate(0, 2), Rate(1, 2), Rate(1, 2), Rate(2, 2)]
    assert [p.false_fallback for p in curve] == [Rate(0, 3), Rate(0, 3), Rate(1, 3), Rate(2, 3)]
    assert [p.core_accuracy for p in curve] == [Rate(3, 3), Rate(3, 3), Rate(2, 3), Rate(1, 3)]
    assert choose_threshold(curve, 0.05, recall_slack=0).threshold == 0.45
    # 0.45 and 0.55 tie on recall: the one with fewer false fallbacks wins
    assert choose_threshold(curve, 0.34, recall_slack=0).threshold == 0.45
    assert choose_threshold(curve, 1.0, recall_slack=0).threshold == 0.75


def test_choose_threshold_breaks_ties_by_fewer_false_fallbacks_and_none_if_all_too_high():
    points = [
        CurvePoint(0.3, Rate(8, 10), Rate(2, 100), Rate(90, 100)),
        CurvePoint(0.4, Rate(8, 10), Rate(1, 100), Rate(90, 100)),
        CurvePoint(0.5, Rate(9, 10), Rate(6, 100), Rate(88, 100)),
    ]
    assert choose_threshold(points, 0.05, recall_slack=0).threshold == 0.4
    assert choose_threshold(points[2:], 0.05) is None


def test_a_recall_within_the_slack_of_the_best_ties_and_fewer_false_fallbacks_win():
    curve = [
        CurvePoint(0.55, Rate(90, 100), Rate(10, 450), Rate(430, 450)),
        CurvePoint(0.85, Rate(92, 100), Rate(14, 450), Rate(426, 450)),
        CurvePoint(0.90, Rate(93, 100), Rate(15, 450), Rate(425, 450)),
        CurvePoint(0.95, Rate(93, 100), Rate(20, 450), Rate(420, 450)),
    ]
    assert choose_threshold(curve, 0.05).threshold == 0.85  # 92 is one message short of 93
    assert choose_threshold(curve, 0.05, recall_slack=0).threshold == 0.90
    assert choose_threshold(curve, 0.05, recall_slack=3).threshold == 0.55
    # a recall two messages short is not a tie
    assert choose_threshold(curve[:1] + curve[2:], 0.05).threshold == 0.90


def test_choose_threshold_keeps_the_configured_one_when_nothing_tells_them_apart():
    plateau = [CurvePoint(t, Rate(8, 10), Rate(0, 100), Rate(90, 100)) for t in (0.0, 0.3, 0.5)]
    assert choose_threshold(plateau, 0.05, current=0.55).threshold == 0.5
    assert choose_threshold(plateau, 0.05, current=0.3).threshold == 0.3
    assert choose_threshold(plateau, 0.05).threshold == 0.0
