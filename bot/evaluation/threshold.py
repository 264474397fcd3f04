"""The FallbackClassifier threshold, recomputed from stored parses (no retraining), and its choice.

Every parse keeps its ``intent_ranking``, so the label the model would give at another threshold
follows from it. Out-of-scope recall is measured on CLINC dev, false fallbacks and core accuracy
on Bitext dev core messages; the test files are for reporting only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from bot.evaluation.datasets import Row, Rule
from bot.evaluation.rules import Scores, aggregate, score
from bot.evaluation.scoring import FALLBACK, Rate, faq_label, label_of

THRESHOLDS: Tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20))  # 0.0 .. 0.95
MAX_FALSE_FALLBACK = 0.05  # the threshold choice keeps false fallbacks on Bitext dev core <= this
RECALL_SLACK = 1  # out-of-scope dev messages by which a threshold may trail the best and still tie

Parsed = Tuple[Row, Mapping[str, Any]]


def relabel(parse: Mapping[str, Any], threshold: float, ambiguity_threshold: float = 0.0) -> str:
    """The label the parse would get with another FallbackClassifier threshold.

    The top intent of ``intent_ranking`` that is not ``nlu_fallback`` (the classifier's own
    prediction); below ``threshold``, or within ``ambiguity_threshold`` of the runner-up (the
    FallbackClassifier's second rule, held at its configured value), it becomes ``nlu_fallback``.
    """
    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK]
    if not ranking:
        return label_of(parse)[0]
    top = ranking[0]
    confidence = float(top.get("confidence") or 0.0)
    if confidence < threshold:
        return FALLBACK
    if (
        len(ranking) > 1
        and confidence - float(ranking[1].get("confidence") or 0.0) < ambiguity_threshold
    ):
        return FALLBACK
    return faq_label(parse) if top.get("name") == "faq" else top.get("name") or FALLBACK


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    oos_recall: Rate  # on the out-of-scope side (CLINC dev)
    false_fallback: Rate  # on the core side (Bitext dev)
    core_accuracy: Rate  # on the core side


def scores_at(
    side: Sequence[Parsed],
    mapping: Mapping[str, Rule],
    threshold: float,
    ambiguity_threshold: float = 0.0,
) -> Scores:
    """The rates of parsed rows as if the model had used ``threshold``."""
    return aggregate(
        [score(row, relabel(parse, threshold, ambiguity_threshold), mapping) for row, parse in side]
    )


def threshold_curve(
    oos_side: Sequence[Parsed],
    core_side: Sequence[Parsed],
    mapping: Mapping[str, Rule],
    thresholds: Sequence[float] = THRESHOLDS,
    ambiguity_threshold: float = 0.0,
) -> List[CurvePoint]:
    """Out-of-scope recall and false fallbacks at each threshold, from stored parses."""
    points = []
    for threshold in thresholds:
        oos = scores_at(oos_side, mapping, threshold, ambiguity_threshold)
        core = scores_at(core_side, mapping, threshold, ambiguity_threshold)
        points.append(
            CurvePoint(threshold, oos.oos_recall, core.false_fallback, core.core_accuracy)
        )
    return points


def within_limit(
    points: Sequence[CurvePoint], max_false_fallback: float = MAX_FALSE_FALLBACK
) -> List[CurvePoint]:
    """The points whose false-fallback rate is known and at most the limit."""
    return [
        p
        for p in points
        if p.false_fallback.value is not None and p.false_fallback.value <= max_false_fallback
    ]


def choose_threshold(
    points: Sequence[CurvePoint],
    max_false_fallback: float = MAX_FALSE_FALLBACK,
    current: Optional[float] = None,
    recall_slack: int = RECALL_SLACK,
) -> Optional[CurvePoint]:
    """Highest out-of-scope recall with false fallbacks <= the limit.

    Recalls within ``recall_slack`` out-of-scope messages of the best count as a tie: on a dev
    file of 100 such messages one message is noise, while every step up the threshold sends
    real requests (thanks, yes, order numbers) to the fallback. Ties go to fewer false
    fallbacks, then higher core accuracy, then the threshold closest to ``current`` (the
    configured one: no change without evidence), then the lower threshold.
    None when no threshold keeps false fallbacks within the limit.
    """
    allowed = within_limit(points, max_false_fallback)
    if not allowed:
        return None
    best = max(p.oos_recall.hits for p in allowed)
    tied = [p for p in allowed if p.oos_recall.hits >= best - recall_slack]
    return max(
        tied,
        key=lambda p: (
            round(-p.false_fallback.value, 9),
            round(p.core_accuracy.value or 0.0, 9),
            -abs(p.threshold - current) if current is not None else 0.0,
            -p.threshold,
        ),
    )
