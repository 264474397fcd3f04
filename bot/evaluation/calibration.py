"""Is the intent confidence a probability? Expected calibration error and the reliability bins.

A point is (confidence, right) for one message: the confidence of the classifier's own top intent
(the first of ``intent_ranking`` that is not ``nlu_fallback``: the FallbackClassifier replaces the
label, not the belief) and whether that intent is right. Messages whose rule says nothing about
the intent (``unsupported``: right is any label but a transaction) are left out, else a wrong
intent would count as a right answer.

ECE (Guo et al., 2017): the messages are put in equal-width confidence bins; per bin the gap
between mean confidence and accuracy, weighted by the bin's share of messages. 0 is perfectly
calibrated; a model that says 1.00 and is right 90% of the time has an ECE of 0.10.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

from bot.evaluation.datasets import UNSUPPORTED, Row, Rule
from bot.evaluation.rules import is_right
from bot.evaluation.scoring import FALLBACK, label_of
from bot.evaluation.threshold import relabel

N_BINS = 10

Point = Tuple[float, bool]  # (confidence, right)


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    confidence: float  # mean confidence in the bin (0 when empty)
    accuracy: float  # share right in the bin (0 when empty)

    @property
    def gap(self) -> float:
        return self.confidence - self.accuracy  # > 0: over-confident


def top_intent(parse: Mapping[str, Any]) -> Tuple[str, float]:
    """The classifier's own label and its confidence, whatever the fallback made of it."""
    label = relabel(parse, 0.0)
    for entry in parse.get("intent_ranking") or []:
        if entry.get("name") != FALLBACK:
            return label, float(entry.get("confidence") or 0.0)
    return label_of(parse)


def benchmark_point(
    row: Row, parse: Mapping[str, Any], mapping: Mapping[str, Rule]
) -> Optional[Point]:
    """The point of one benchmark message, None for one whose rule does not judge the intent."""
    rule = mapping[row.source_intent]
    if rule.kind == UNSUPPORTED:
        return None
    label, confidence = top_intent(parse)
    return confidence, is_right(rule, label)


def labelled_point(expected: str, parse: Mapping[str, Any]) -> Point:
    """The point of a message with a known label (the own test set)."""
    label, confidence = top_intent(parse)
    return confidence, label == expected


def reliability_bins(points: Iterable[Point], n_bins: int = N_BINS) -> List[Bin]:
    """``n_bins`` equal-width bins over [0, 1]; a confidence of exactly 1 goes in the last."""
    members: List[List[Point]] = [[] for _ in range(n_bins)]
    for confidence, right in points:
        index = min(int(confidence * n_bins), n_bins - 1)
        members[max(index, 0)].append((confidence, right))
    return [
        Bin(
            i / n_bins,
            (i + 1) / n_bins,
            len(m),
            statistics.fmean(c for c, _ in m) if m else 0.0,
            sum(r for _, r in m) / len(m) if m else 0.0,
        )
        for i, m in enumerate(members)
    ]


def expected_calibration_error(points: Iterable[Point], n_bins: int = N_BINS) -> float:
    """Sum over bins of |mean confidence − accuracy| × the bin's share of the messages."""
    bins = reliability_bins(points, n_bins)
    total = sum(b.count for b in bins)
    if not total:
        return 0.0
    return sum(abs(b.gap) * b.count for b in bins) / total


def confidently_wrong(points: Iterable[Point], at_least: float = 0.99) -> Tuple[int, int]:
    """(wrong messages with confidence >= ``at_least``, all wrong messages)."""
    wrong = [c for c, right in points if not right]
    return sum(c >= at_least for c in wrong), len(wrong)


def mean_spread(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and half the range over seeds (0 for one seed): the figure is mean ± spread."""
    if not values:
        raise ValueError("no values")
    return statistics.fmean(values), (max(values) - min(values)) / 2
