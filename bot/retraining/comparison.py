"""A trained candidate model against the running one: same data, side by side, and a verdict.

Loading a model needs TensorFlow and a gigabyte of memory, which the web
service must never pay: :func:`compare` runs this module as a subprocess
(``python -m bot.retraining.comparison ... --json out.json``) and reads the JSON.
Scoring is :mod:`bot.evaluation.scoring`'s, so "right" means what it means in the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from bot.evaluation import scoring
from bot.retraining.errors import EvaluationFailed

EPSILON = 1e-9  # float noise must not turn "equal" into "worse"


@dataclass
class Score:
    """How one model did on one data set."""

    accuracy: float
    macro_f1: float
    f1: Dict[str, float]
    confusions: List[Dict[str, Any]]
    examples: int

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class DatasetComparison:
    """Both models on one data set, with per-intent F1 changes (candidate minus running)."""

    name: str
    path: str
    candidate: Score
    running: Optional[Score]
    changes: List[Dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class Comparison:
    """The candidate against the running model, per data set, and whether it may go live.

    Attributes:
        candidate: File name of the new model.
        running: File name of the model it is compared with (None: nothing was running).
        datasets: ``test_set`` (held out) and ``review`` (the labelled review data).
        verdict: ``better``, ``not_worse`` or ``worse`` (decided on the held-out test set;
            the review data is what the candidate trained on, so it can only confirm).
        reasons: Why, in words.
        max_accuracy_drop: The tolerance the verdict used.
    """

    candidate: str
    running: Optional[str]
    datasets: Dict[str, DatasetComparison]
    verdict: str
    reasons: List[str]
    max_accuracy_drop: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready form (stored with the job and the model)."""
        return {
            "candidate": self.candidate,
            "running": self.running,
            "verdict": self.verdict,
            "reasons": self.reasons,
            "max_accuracy_drop": self.max_accuracy_drop,
            "datasets": {k: v.to_dict() for k, v in self.datasets.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Comparison":
        """Rebuild a comparison read from JSON."""
        datasets = {}
        for name, raw in data["datasets"].items():
            running = Score(**raw["running"]) if raw.get("running") else None
            datasets[name] = DatasetComparison(
                raw["name"],
                raw["path"],
                Score(**raw["candidate"]),
                running,
                raw.get("changes") or [],
            )
        return cls(
            data["candidate"],
            data.get("running"),
            datasets,
            data["verdict"],
            list(data.get("reasons") or []),
            float(data.get("max_accuracy_drop") or 0.0),
        )

    def summary(self) -> Dict[str, Any]:
        """The few figures a model list shows."""
        test = self.datasets.get("test_set")
        return {
            "verdict": self.verdict,
            "running": self.running,
            "test_accuracy": test.candidate.accuracy if test else None,
            "test_macro_f1": test.candidate.macro_f1 if test else None,
            "running_test_accuracy": test.running.accuracy if test and test.running else None,
            "running_test_macro_f1": test.running.macro_f1 if test and test.running else None,
        }


# ---- scoring (pure: lists of (expected, predicted) pairs) --------------------------------


def score(pairs: Sequence[Tuple[str, str]], top_confusions: int = 10) -> Score:
    """Accuracy, macro-F1 over the expected labels, per-intent F1 and the top confusions."""
    f1 = scoring.per_intent_f1(pairs)
    confusions = scoring.confusions(pairs, top_confusions)
    return Score(
        accuracy=round(scoring.accuracy(pairs).value or 0.0, 4),
        macro_f1=round(scoring.macro_f1(f1), 4),
        f1=f1,
        confusions=[{"expected": e, "predicted": p, "count": n} for (e, p), n in confusions],
        examples=len(pairs),
    )


def changes(candidate: Score, running: Optional[Score]) -> List[Dict[str, Any]]:
    """Per-intent F1 of both models, biggest change first."""
    if running is None:
        return []
    rows = []
    for intent in sorted(set(candidate.f1) | set(running.f1)):
        new, old = candidate.f1.get(intent, 0.0), running.f1.get(intent, 0.0)
        rows.append(
            {"intent": intent, "running": old, "candidate": new, "change": round(new - old, 4)}
        )
    return sorted(rows, key=lambda r: (-abs(r["change"]), r["intent"]))


def verdict(
    test: Optional[DatasetComparison], review: Optional[DatasetComparison], max_drop: float
) -> Tuple[str, List[str]]:
    """``worse`` if the held-out accuracy or macro-F1 fell by more than ``max_drop``."""
    if test is None or test.running is None:
        return "not_worse", ["no running model to compare with" if test else "no test set"]
    reasons, worse = [], False
    for metric in ("accuracy", "macro_f1"):
        new, old = getattr(test.candidate, metric), getattr(test.running, metric)
        drop = old - new
        if drop > max_drop + EPSILON:
            worse = True
            reasons.append(
                f"test set {metric} fell from {old:.1%} to {new:.1%} "
                f"(more than the {max_drop:.1%} allowed)"
            )
        else:
            reasons.append(f"test set {metric} {old:.1%} -> {new:.1%}")
    if worse:
        return "worse", reasons
    improved = any(
        getattr(test.candidate, m) > getattr(test.running, m) + EPSILON
        for m in ("accuracy", "macro_f1")
    )
    if review is not None and review.running is not None:
        reasons.append(
            f"review data accuracy {review.running.accuracy:.1%} -> {review.candidate.accuracy:.1%}"
        )
        improved = improved or review.candidate.accuracy > review.running.accuracy + EPSILON
    return ("better" if improved else "not_worse"), reasons


def build_comparison(
    candidate: str,
    running: Optional[str],
    predictions: Mapping[str, Mapping[str, Sequence[Tuple[str, str]]]],
    paths: Mapping[str, str],
    max_drop: float = 0.0,
) -> Comparison:
    """A comparison from (expected, predicted) pairs per data set and model
    (``candidate``/``running``).
    """
    datasets = {}
    for name, by_model in predictions.items():
        new = score(by_model["candidate"])
        old = score(by_model["running"]) if by_model.get("running") is not None else None
        datasets[name] = DatasetComparison(name, paths[name], new, old, changes(new, old))
    label, reasons = verdict(datasets.get("test_set"), datasets.get("review"), max_drop)
    return Comparison(candidate, running, datasets, label, reasons, max_drop)


# ---- running it in a subprocess ----------------------------------------------------------


def command(
    candidate_model: Path,
    running_model: Optional[Path],
    test_set: Path,
    review_examples: Optional[Path],
    out: Path,
    max_drop: float = 0.0,
    progress: bool = True,
) -> List[str]:
    """The command line of the evaluation subprocess."""
    args = [
        sys.executable,
        "-m",
        "bot.retraining.comparison",
        "--candidate",
        str(candidate_model),
        "--test-set",
        str(test_set),
        "--json",
        str(out),
        "--max-drop",
        str(max_drop),
    ]
    if running_model is not None:
        args += ["--running", str(running_model)]
    if review_examples is not None:
        args += ["--review", str(review_examples)]
    return args + ([] if progress else ["--no-progress"])


def compare(
    candidate_model: Path,
    running_model: Optional[Path],
    test_set: Path,
    review_examples: Optional[Path],
    *,
    max_drop: float = 0.0,
    progress: bool = True,
) -> Comparison:
    """Evaluate both models in a subprocess (progress bars on this terminal's stderr).

    Raises:
        EvaluationFailed: the subprocess failed (a model that does not load, a bad data file).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "comparison.json"
        args = command(
            candidate_model, running_model, test_set, review_examples, out, max_drop, progress
        )
        result = subprocess.run(
            args,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=None if progress else subprocess.PIPE,
            text=True,
        )
        if result.returncode != 0 or not out.exists():
            raise EvaluationFailed(
                f"evaluation failed (exit {result.returncode}): "
                f"{_tail(result.stderr or result.stdout)}"
            )
        return Comparison.from_dict(json.loads(out.read_text()))


async def compare_async(
    candidate_model: Path,
    running_model: Optional[Path],
    test_set: Path,
    review_examples: Optional[Path],
    *,
    max_drop: float = 0.0,
) -> Comparison:
    """:func:`compare` without blocking the event loop (for training jobs)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "comparison.json"
        args = command(
            candidate_model, running_model, test_set, review_examples, out, max_drop, progress=False
        )
        proc = await asyncio.create_subprocess_exec(
            *args,
            env=subprocess_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            output, _ = await proc.communicate()
        except asyncio.CancelledError:
            _kill(proc.pid)
            raise
        if proc.returncode != 0 or not out.exists():
            raise EvaluationFailed(
                f"evaluation failed (exit {proc.returncode}): "
                f"{_tail(output.decode(errors='replace'))}"
            )
        return Comparison.from_dict(json.loads(out.read_text()))


def subprocess_env() -> Dict[str, str]:
    """Quiet TensorFlow, no telemetry."""
    return {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }


def _kill(pid: int) -> None:
    import signal

    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tail(text: Optional[str], lines: int = 15) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


# ---- the subprocess ----------------------------------------------------------------------


def _predict_all(
    model: Path, datasets: Mapping[str, List[Tuple[str, str]]], progress: bool
) -> Dict[str, List[Tuple[str, str]]]:
    from rasa.core.agent import Agent
    from tqdm import tqdm

    from bot.evaluation.parsing import predict

    agent = Agent.load(str(model))
    results = {}
    for name, examples in datasets.items():
        bar = tqdm(
            examples,
            desc=f"{name} with {model.name[:32]}",
            unit="msg",
            disable=not progress,
            file=sys.stderr,
        )
        report = asyncio.run(predict(agent, bar))
        results[name] = [(p.expected, p.predicted) for p in report.predictions]
    return results


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Compare a candidate model with the running one.")
    parser.add_argument("--candidate", type=Path, required=True)
    parser.add_argument("--running", type=Path)
    parser.add_argument("--test-set", type=Path, required=True)
    parser.add_argument("--review", type=Path, help="labelled review data (Rasa NLU YAML)")
    parser.add_argument("--max-drop", type=float, default=0.0)
    parser.add_argument("--json", type=Path, required=True, help="where to write the comparison")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    _quiet_logs()

    from bot.evaluation.datasets import load_examples

    datasets = {"test_set": load_examples(args.test_set)}
    paths = {"test_set": str(args.test_set)}
    if args.review is not None and args.review.exists() and load_examples(args.review):
        datasets["review"] = load_examples(args.review)
        paths["review"] = str(args.review)
    progress = not args.no_progress
    predictions: Dict[str, Dict[str, Any]] = {name: {} for name in datasets}
    for role, model in (("candidate", args.candidate), ("running", args.running)):
        if model is None:
            continue
        for name, pairs in _predict_all(model, datasets, progress).items():
            predictions[name][role] = pairs
    comparison = build_comparison(
        args.candidate.name,
        args.running.name if args.running else None,
        predictions,
        paths,
        args.max_drop,
    )
    args.json.write_text(json.dumps(comparison.to_dict(), indent=2))
    print(f"verdict: {comparison.verdict}")


def _quiet_logs() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    for name in ("rasa", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    except ImportError:
        pass


if __name__ == "__main__":
    main()
