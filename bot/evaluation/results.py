"""What an evaluation run produced: parses per file and pipeline, and the figures drawn from them.

Built by :mod:`bot.evaluation.parsing` and :mod:`bot.evaluation.benchmark`, read by the report
(:mod:`bot.evaluation.report`) and the plots (:mod:`bot.evaluation.plots`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from bot.evaluation.calibration import Point, benchmark_point, labelled_point
from bot.evaluation.datasets import OWN_TEST_NAME, Row, Rule
from bot.evaluation.rules import Outcome, Scores, aggregate, confusions
from bot.evaluation.scoring import Report, label_of, timing_ms
from bot.evaluation.threshold import THRESHOLDS, CurvePoint, Parsed, relabel, threshold_curve


@dataclass
class ParsedRow:
    row: Row
    parse: Dict[str, Any]
    seconds: float

    @property
    def label(self) -> str:
        return label_of(self.parse)[0]


@dataclass
class FileResult:
    """One pipeline on one file."""

    name: str
    parsed: List[ParsedRow]
    outcomes: List[Outcome] = field(default_factory=list)  # benchmark files
    report: Optional[Report] = None  # the own test set (plain intent accuracy)

    @property
    def scores(self) -> Scores:
        return aggregate(self.outcomes)

    @property
    def timing(self) -> Tuple[float, float]:
        return timing_ms([p.seconds for p in self.parsed])


def calibration_points(result: FileResult, mapping: Mapping[str, Rule]) -> List[Point]:
    """(confidence, right) of every message of a file whose intent can be judged."""
    if result.report is not None:  # the own test set: its label is the expected intent
        return [labelled_point(p.row.source_intent, p.parse) for p in result.parsed]
    points = (benchmark_point(p.row, p.parse, mapping) for p in result.parsed)
    return [p for p in points if p is not None]


def parsed_pairs(result: FileResult) -> List[Parsed]:
    """(row, parse) of every message of a file, for the threshold curve."""
    return [(p.row, p.parse) for p in result.parsed]


@dataclass
class PipelineResult:
    name: str
    config: str
    model: Path
    load_seconds: float
    first_parse_seconds: float
    threshold: float
    ambiguity_threshold: float
    files: Dict[str, FileResult]
    stale: str = ""  # why the model does not match the current inputs, if it does not
    seed: Optional[int] = None  # the DIET random_seed, when the run compares seeds

    def curve(self, mapping: Mapping[str, Rule]) -> List[CurvePoint]:
        return threshold_curve(
            parsed_pairs(self.files["clinc_dev"]),
            parsed_pairs(self.files["bitext_dev"]),
            mapping,
            THRESHOLDS,
            self.ambiguity_threshold,
        )

    def curve_reproduces_live(self) -> Tuple[int, int]:
        """At the configured threshold, how many recomputed labels equal the live ones."""
        parsed = [p for f in self.files.values() for p in f.parsed]
        same = sum(
            relabel(p.parse, self.threshold, self.ambiguity_threshold) == p.label for p in parsed
        )
        return same, len(parsed)


def benchmark_outcomes(result: PipelineResult) -> List[Outcome]:
    """The outcomes of every benchmark file of a pipeline (not the own test set)."""
    return [o for name, f in result.files.items() if name != OWN_TEST_NAME for o in f.outcomes]


def confusion_table(
    results: Sequence[PipelineResult], top: int = 12
) -> List[Tuple[Tuple[str, str], Dict[str, int]]]:
    """The union of each pipeline's top pairs over all benchmark files, with all counts."""
    counts = {r.name: dict(confusions(benchmark_outcomes(r))) for r in results}
    keys: List[Tuple[str, str]] = []
    for r in results:
        for pair in list(counts[r.name])[:top]:  # most frequent first, ties by name
            if pair not in keys:
                keys.append(pair)
    first = results[0].name
    keys.sort(key=lambda pair: (-counts[first].get(pair, 0), pair))
    return [(pair, {name: c.get(pair, 0) for name, c in counts.items()}) for pair in keys]
