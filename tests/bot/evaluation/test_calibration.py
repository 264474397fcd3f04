"""Expected calibration error, the reliability bins and the points they are made of."""

from __future__ import annotations

import pytest

from bot.evaluation.calibration import (
    benchmark_point,
    confidently_wrong,
    expected_calibration_error,
    labelled_point,
    mean_spread,
    reliability_bins,
    top_intent,
)
from bot.evaluation.datasets import Row
from tests.bot.evaluation.samples import MAPPING, rasa_parse


def test_a_calibrated_set_has_no_error():
    # 0.95 right 19 times in 20, 0.75 right 3 times in 4
    points = [(0.95, True)] * 19 + [(0.95, False)] + [(0.75, True)] * 3 + [(0.75, False)]
    assert expected_calibration_error(points) == pytest.approx(0.0)


def test_an_over_confident_model_has_the_gap_as_its_error():
    points = [(1.0, True)] * 9 + [(1.0, False)]
    assert expected_calibration_error(points) == pytest.approx(0.1)
    assert confidently_wrong(points) == (1, 1)


def test_bins_are_equal_width_and_weighted_by_their_count():
    points = [(0.05, False), (0.15, True), (0.15, False), (1.0, True)]
    bins = reliability_bins(points, n_bins=10)
    assert [b.count for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]  # 1.0 lands in the last bin
    assert bins[1].confidence == pytest.approx(0.15) and bins[1].accuracy == 0.5
    assert bins[0].gap == pytest.approx(0.05)
    expected = (0.05 * 1 + 0.35 * 2 + 0.0 * 1) / 4
    assert expected_calibration_error(points) == pytest.approx(expected)


def test_no_points_no_error():
    assert expected_calibration_error([]) == 0.0


def test_the_point_is_the_classifiers_belief_not_the_fallbacks_label():
    live = rasa_parse(("nlu_fallback", 0.7), ("order_status", 0.62), ("cancel_order", 0.3))
    assert top_intent(live) == ("order_status", 0.62)
    assert benchmark_point(Row("where is it", "track_order"), live, MAPPING) == (0.62, True)
    assert benchmark_point(Row("hi", "oos"), live, MAPPING) == (0.62, False)


def test_unsupported_messages_do_not_count():
    parse = rasa_parse(("greet", 0.99))
    assert benchmark_point(Row("make me an account", "create_account"), parse, MAPPING) is None


def test_labelled_points_compare_the_faq_topic():
    parse = rasa_parse(("faq", 0.9), ("greet", 0.05), topic="warranty")
    assert labelled_point("faq/warranty", parse) == (0.9, True)
    assert labelled_point("faq/shipping_times", parse) == (0.9, False)


def test_mean_and_spread_over_seeds():
    assert mean_spread([0.9, 0.94, 0.92]) == (pytest.approx(0.92), pytest.approx(0.02))
    assert mean_spread([0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError):
        mean_spread([])
