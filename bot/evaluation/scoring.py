"""The one scorer: how well predicted labels match the expected ones, as pure functions.

The project's NLU test set (tests/nlu), the public benchmarks (``make eval``, through
:mod:`bot.evaluation.rules`) and the retraining comparison (:mod:`bot.retraining.comparison`) all
score here, over ``(expected, predicted)`` pairs: accuracy, per-intent and per-tag accuracy,
per-intent and macro F1, confusions, false fallbacks and parse-time percentiles.

One place turns a parse result into the label we score ("faq/<topic>" for
retrieval intents, "nlu_fallback" when the fallback fired) so that the test
suite, ``make eval`` and the admin tools agree on what "right" means.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

FALLBACK = "nlu_fallback"
# A prediction of one of these means the bot did not answer: a false fallback for a request
# it should have understood.
FALLBACK_LABELS = frozenset({FALLBACK, "out_of_scope"})

Pair = Tuple[str, str]  # (expected, predicted)
Confusion = Tuple[Pair, int]


# --------------------------------------------------------------------------- labels


def label_of(parse: Dict[str, Any]) -> Tuple[str, float]:
    """The scored label of a Rasa parse result, and its confidence."""
    intent = parse.get("intent") or {}
    name, confidence = intent.get("name") or FALLBACK, float(intent.get("confidence") or 0.0)
    if name == "faq":
        name = faq_label(parse)
    return name, confidence


def faq_label(parse: Dict[str, Any]) -> str:
    """``faq/<topic>`` from the response selector; "faq" if it gave no topic.

    A ResponseSelector configured with ``retrieval_intent: faq`` reports under the key
    "faq"; one without it (Rasa's default pipeline, bot/evaluation/baseline_config.yml) under
    "default".
    """
    selectors = parse.get("response_selector") or {}
    selector = selectors.get("faq") or selectors.get("default") or {}
    return (selector.get("response") or {}).get("intent_response_key") or "faq"


def fell_back(predicted: str) -> bool:
    """Did the bot fall back (``nlu_fallback`` or ``out_of_scope``) instead of answering?"""
    return predicted in FALLBACK_LABELS


# --------------------------------------------------------------------------- rates


@dataclass(frozen=True)
class Rate:
    """``hits`` of ``total``; no value (shown "–") when there was nothing to count."""

    hits: int
    total: int

    @property
    def value(self) -> Optional[float]:
        return self.hits / self.total if self.total else None

    def __str__(self) -> str:
        return f"{self.value:.1%} ({self.hits}/{self.total})" if self.total else "–"


def rate(flags: Iterable[bool]) -> Rate:
    flags = list(flags)
    return Rate(sum(flags), len(flags))


def accuracy(pairs: Iterable[Pair]) -> Rate:
    """The pairs whose prediction is the expected label."""
    return rate(expected == predicted for expected, predicted in pairs)


def rates_by(keyed: Iterable[Tuple[Iterable[str], bool]]) -> Dict[str, Rate]:
    """Key -> share of right items, from (keys, right) items; an item counts for each key."""
    hits: Counter = Counter()
    totals: Counter = Counter()
    for keys, right in keyed:
        for key in keys:
            totals[key] += 1
            hits[key] += right
    return {key: Rate(hits[key], totals[key]) for key in sorted(totals)}


def per_label_accuracy(pairs: Iterable[Pair]) -> Dict[str, Rate]:
    """Expected label -> accuracy on its pairs."""
    return rates_by(((expected,), expected == predicted) for expected, predicted in pairs)


def per_tag_accuracy(tagged: Iterable[Tuple[str, bool]]) -> Dict[str, Rate]:
    """Tag letter -> share of right items, from (tag letters, right); each letter counts once."""
    return rates_by((set(tags), right) for tags, right in tagged)


def false_fallbacks(predicted: Iterable[str]) -> Rate:
    """Share of predictions that fell back (score it on requests the bot should understand)."""
    return rate(fell_back(label) for label in predicted)


# --------------------------------------------------------------------------- F1


def per_intent_f1(pairs: Sequence[Pair]) -> Dict[str, float]:
    """F1 of every label that appears as expected, rounded to 4 decimals (labels only
    predicted count as errors elsewhere).
    """
    true_pos = Counter(e for e, p in pairs if e == p)
    expected = Counter(e for e, _ in pairs)
    predicted = Counter(p for _, p in pairs)
    f1 = {}
    for label in sorted(expected):
        precision = true_pos[label] / predicted[label] if predicted[label] else 0.0
        recall = true_pos[label] / expected[label]
        both = precision + recall
        f1[label] = round(2 * precision * recall / both, 4) if both else 0.0
    return f1


def macro_f1(f1: Mapping[str, float]) -> float:
    """The mean of per-intent F1 scores (0.0 for none)."""
    return sum(f1.values()) / len(f1) if f1 else 0.0


# --------------------------------------------------------------------------- confusions


def confusions(
    pairs: Iterable[Pair],
    top: Optional[int] = None,
    *,
    right: Optional[Iterable[bool]] = None,
    ties_by_name: bool = False,
) -> List[Confusion]:
    """The (expected, predicted) pairs of wrong predictions and their counts, most frequent first.

    ``right`` flags each pair (by default: right when predicted == expected). Equal counts keep
    the order in which the pairs first appear, or with ``ties_by_name`` the pairs' order.
    """
    pairs = list(pairs)
    flags = (e == p for e, p in pairs) if right is None else right
    counts = Counter(pair for pair, ok in zip(pairs, flags, strict=True) if not ok)
    if ties_by_name:
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return counts.most_common(top)


# --------------------------------------------------------------------------- timing


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(int(round(fraction * (len(ordered) - 1))), len(ordered) - 1)]


def timing_ms(seconds: Sequence[float]) -> Tuple[float, float]:
    """(median, p95) in milliseconds."""
    return percentile(seconds, 0.5) * 1000, percentile(seconds, 0.95) * 1000


# --------------------------------------------------------------------------- one data set


@dataclass(frozen=True)
class Prediction:
    """What the model said about one message."""

    text: str
    expected: str
    predicted: str
    confidence: float
    seconds: float

    @property
    def correct(self) -> bool:
        return self.predicted == self.expected


@dataclass
class Report:
    """Accuracy, per-intent results and the most frequent confusions of one data set."""

    predictions: List[Prediction] = field(default_factory=list)

    @property
    def pairs(self) -> List[Pair]:
        return [(p.expected, p.predicted) for p in self.predictions]

    @property
    def accuracy(self) -> float:
        return accuracy(self.pairs).value or 0.0

    def per_intent(self) -> Dict[str, Rate]:
        """intent -> Rate(correct, total)."""
        return per_label_accuracy(self.pairs)

    def confusions(self, top: int = 10) -> List[Confusion]:
        return confusions(self.pairs, top)

    def summary(self, name: str) -> str:
        right = accuracy(self.pairs)
        lines = [f"{name}: intent accuracy {self.accuracy:.1%} ({right.hits}/{right.total})"]
        lines += [f"  confused {e} -> {p}: {n}" for (e, p), n in self.confusions(5)]
        return "\n".join(lines)
