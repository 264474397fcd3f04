"""Scoring, per-intent changes and the verdict that decides whether a model may go live."""

from __future__ import annotations

import pytest

from bot.retraining.comparison import Comparison, build_comparison, command, score

PAIRS = [("a", "a"), ("a", "a"), ("a", "b"), ("b", "b"), ("c", "a")]


def test_score_accuracy_macro_f1_and_confusions():
    result = score(PAIRS)
    assert result.accuracy == 0.6 and result.examples == 5
    # a: P=2/3 R=2/3 -> .6667; b: P=1/2 R=1 -> .6667; c: P=0 R=0 -> 0
    assert result.f1 == {"a": 0.6667, "b": 0.6667, "c": 0.0}
    assert result.macro_f1 == pytest.approx((0.6667 * 2) / 3, abs=1e-4)
    assert result.confusions == [
        {"expected": "a", "predicted": "b", "count": 1},
        {"expected": "c", "predicted": "a", "count": 1},
    ]


def test_score_of_perfect_and_empty_predictions():
    assert score([("x", "x"), ("y", "y")]).f1 == {"x": 1.0, "y": 1.0}
    assert score([]).accuracy == 0.0 and score([]).macro_f1 == 0.0


def _comparison(candidate_pairs, running_pairs, review=None, max_drop=0.0):
    predictions = {"test_set": {"candidate": candidate_pairs, "running": running_pairs}}
    paths = {"test_set": "tests/nlu/test_nlu.yml", "review": "data/nlu/reviewed.yml"}
    if review:
        predictions["review"] = review
    return build_comparison("new.tar.gz", "old.tar.gz", predictions, paths, max_drop)


def test_a_lower_test_accuracy_is_worse():
    worse = _comparison([("a", "a"), ("b", "a")], [("a", "a"), ("b", "b")])
    assert worse.verdict == "worse" and "fell" in worse.reasons[0]
    assert worse.datasets["test_set"].changes[0] == {
        "intent": "b",
        "running": 1.0,
        "candidate": 0.0,
        "change": -1.0,
    }


def test_the_tolerance_allows_a_small_drop():
    pairs_old = [("a", "a")] * 99 + [("b", "b")]
    pairs_new = [("a", "a")] * 98 + [("a", "b"), ("b", "b")]
    assert _comparison(pairs_new, pairs_old).verdict == "worse"
    assert _comparison(pairs_new, pairs_old, max_drop=0.2).verdict == "not_worse"


def test_equal_is_not_worse_and_review_gains_make_it_better():
    same = [("a", "a"), ("b", "b")]
    assert _comparison(same, same).verdict == "not_worse"
    review = {"candidate": [("c", "c")], "running": [("c", "a")]}
    better = _comparison(same, same, review=review)
    assert better.verdict == "better" and "review data accuracy 0.0% -> 100.0%" in better.reasons
    assert _comparison([("a", "a"), ("b", "b")], [("a", "a"), ("b", "a")]).verdict == "better"


def test_without_a_running_model_there_is_nothing_to_be_worse_than():
    comparison = build_comparison(
        "new.tar.gz", None, {"test_set": {"candidate": [("a", "b")]}}, {"test_set": "t.yml"}
    )
    assert comparison.verdict == "not_worse" and comparison.datasets["test_set"].running is None


def test_round_trip_and_summary():
    comparison = _comparison(
        [("a", "a")], [("a", "b")], review={"candidate": [("c", "c")], "running": [("c", "a")]}
    )
    again = Comparison.from_dict(comparison.to_dict())
    assert again.to_dict() == comparison.to_dict()
    assert again.summary() == {
        "verdict": "better",
        "running": "old.tar.gz",
        "test_accuracy": 1.0,
        "test_macro_f1": 1.0,
        "running_test_accuracy": 0.0,
        "running_test_macro_f1": 0.0,
    }


def test_the_subprocess_command(tmp_path):
    args = command(
        tmp_path / "new.tar.gz",
        None,
        tmp_path / "t.yml",
        None,
        tmp_path / "o.json",
        0.01,
        progress=False,
    )
    assert args[1:3] == ["-m", "bot.retraining.comparison"] and "--running" not in args
    assert "--no-progress" in args and args[args.index("--max-drop") + 1] == "0.01"
