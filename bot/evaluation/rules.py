"""How a benchmark prediction is judged: the rules of ``mapping.tsv`` and a file's four rates.

A benchmark message is not scored by its label (its source intent is Bitext's or CLINC's, not
ours) but by the rule of its source intent (the benchmarks README): a ``core`` request is right
when the prediction is an intent ``mapping.tsv`` accepts, an ``unsupported`` one when no order
transaction starts, an ``out_of_scope`` one when the bot falls back. The counting itself is
:mod:`bot.evaluation.scoring`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence

from bot.evaluation import scoring
from bot.evaluation.datasets import CORE, OUT_OF_SCOPE, UNSUPPORTED, Row, Rule
from bot.evaluation.scoring import FALLBACK_LABELS, Confusion, Rate, false_fallbacks, rate

# Predictions that start a transaction on the customer's order: wrong for unsupported requests.
TRANSACTIONS: FrozenSet[str] = frozenset(
    {"order_status", "return_request", "refund_status", "cancel_order"}
)


@dataclass(frozen=True)
class Outcome:
    """What one prediction means for one benchmark row."""

    source_intent: str
    kind: str
    predicted: str
    right: bool  # core: an accepted intent; unsupported: no transaction; oos: fallback/oos
    fell_back: bool  # predicted nlu_fallback or out_of_scope
    tags: str = ""


def accepts(accepted: FrozenSet[str], predicted: str) -> bool:
    """Is ``predicted`` one of ``accepted``? ("faq" accepts every ``faq/<topic>``)."""
    if predicted in accepted:
        return True
    return "faq" in accepted and (predicted == "faq" or predicted.startswith("faq/"))


def is_right(rule: Rule, predicted: str) -> bool:
    """Is ``predicted`` right for a message of this rule?"""
    if rule.kind == CORE:
        return accepts(rule.accepted, predicted)
    if rule.kind == UNSUPPORTED:
        return predicted not in TRANSACTIONS
    return predicted in (rule.accepted or FALLBACK_LABELS)


def score(row: Row, predicted: str, mapping: Mapping[str, Rule]) -> Outcome:
    """Score one benchmark row's predicted label by the rules of the benchmarks README."""
    try:
        rule = mapping[row.source_intent]
    except KeyError:
        raise KeyError(f"source intent {row.source_intent!r} is not in mapping.tsv") from None
    return Outcome(
        row.source_intent,
        rule.kind,
        predicted,
        is_right(rule, predicted),
        scoring.fell_back(predicted),
        row.tags,
    )


@dataclass(frozen=True)
class Scores:
    core_accuracy: Rate
    unsupported_safe: Rate
    oos_recall: Rate
    false_fallback: Rate  # share of core messages predicted nlu_fallback / out_of_scope

    METRICS = (
        ("core_accuracy", "core accuracy"),
        ("unsupported_safe", "unsupported-safe rate"),
        ("oos_recall", "out-of-scope recall"),
        ("false_fallback", "false-fallback rate"),
    )


def aggregate(outcomes: Sequence[Outcome]) -> Scores:
    core = [o for o in outcomes if o.kind == CORE]
    return Scores(
        core_accuracy=rate(o.right for o in core),
        unsupported_safe=rate(o.right for o in outcomes if o.kind == UNSUPPORTED),
        oos_recall=rate(o.right for o in outcomes if o.kind == OUT_OF_SCOPE),
        false_fallback=false_fallbacks(o.predicted for o in core),
    )


def per_tag(outcomes: Sequence[Outcome]) -> Dict[str, Rate]:
    """Tag letter -> share of right outcomes; a message counts for every letter in its tags."""
    return scoring.per_tag_accuracy((o.tags, o.right) for o in outcomes)


def confusions(outcomes: Iterable[Outcome], top: Optional[int] = None) -> List[Confusion]:
    """The (source_intent, predicted) pairs of wrong outcomes, most frequent first."""
    outcomes = list(outcomes)
    return scoring.confusions(
        [(o.source_intent, o.predicted) for o in outcomes],
        top,
        right=[o.right for o in outcomes],
        ties_by_name=True,
    )
