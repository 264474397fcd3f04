"""Measure how well a trained model understands messages: the project's test set and benchmarks.

One place turns a parse result into the label we score ("faq/<topic>" for
retrieval intents, "nlu_fallback" when the fallback fired) so that the test
suite, ``make eval`` and the admin tools agree on what "right" means.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple

FALLBACK = "nlu_fallback"


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
    def accuracy(self) -> float:
        return sum(p.correct for p in self.predictions) / max(len(self.predictions), 1)

    def per_intent(self) -> Dict[str, Tuple[int, int]]:
        """intent -> (correct, total)."""
        totals: Counter = Counter(p.expected for p in self.predictions)
        right: Counter = Counter(p.expected for p in self.predictions if p.correct)
        return {intent: (right[intent], totals[intent]) for intent in sorted(totals)}

    def confusions(self, top: int = 10) -> List[Tuple[Tuple[str, str], int]]:
        pairs = Counter((p.expected, p.predicted) for p in self.predictions if not p.correct)
        return pairs.most_common(top)

    def summary(self, name: str) -> str:
        lines = [
            f"{name}: intent accuracy {self.accuracy:.1%} "
            f"({sum(p.correct for p in self.predictions)}"
            f"/{len(self.predictions)})"
        ]
        lines += [f"  confused {e} -> {p}: {n}" for (e, p), n in self.confusions(5)]
        return "\n".join(lines)


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


def load_examples(path: Path) -> List[Tuple[str, str]]:
    """(text, label) pairs of a Rasa NLU YAML file, with full retrieval intent names."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [
        (m.get("text"), m.get("intent_response_key") or m.get("intent"))
        for m in data.intent_examples
    ]


async def predict(agent: Any, examples: Iterable[Tuple[str, str]]) -> Report:
    """Parse every example with a loaded Rasa ``Agent``."""
    report = Report()
    for text, expected in examples:
        parse, seconds = await parse_timed(agent, text)
        predicted, confidence = label_of(parse)
        report.predictions.append(Prediction(text, expected, predicted, confidence, seconds))
    return report


async def parse_timed(agent: Any, text: str) -> Tuple[Dict[str, Any], float]:
    """The raw parse result of one message and the seconds it took."""
    started = time.perf_counter()
    parse = await agent.parse_message(text)
    return parse, time.perf_counter() - started


def evaluate_file(agent: Any, path: Path) -> Report:
    return asyncio.run(predict(agent, load_examples(path)))


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(int(round(fraction * (len(ordered) - 1))), len(ordered) - 1)]
