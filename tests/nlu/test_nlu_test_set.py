"""The model against the held-out NLU test set written in customers' own words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.nlu_eval import evaluate_file, load_examples
from tests.conftest import NLU_RESULTS

TEST_SET = Path("tests/nlu/test_nlu.yml")
TARGET_ACCURACY = 0.90


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def test_the_test_set_is_large_and_disjoint_from_the_training_data():
    test = load_examples(TEST_SET)
    train = {_norm(text) for path in Path("data/nlu").glob("*.yml") for text, _ in load_examples(path)}
    assert len(test) >= 150
    leaked = [text for text, _ in test if _norm(text) in train]
    assert leaked == []


@pytest.mark.model
def test_intent_accuracy_on_the_test_set_meets_the_target(nlu_agent):
    report = evaluate_file(nlu_agent, TEST_SET)
    NLU_RESULTS.append(report.summary(f"NLU test set ({TEST_SET})"))
    assert report.accuracy >= TARGET_ACCURACY, report.summary("NLU test set")


def test_no_benchmark_message_is_in_the_training_data():
    """The benchmarks measure understanding of text nobody here wrote: none may leak into training."""
    import csv

    benchmarks = Path("../shared/benchmarks")
    if not benchmarks.is_dir():
        pytest.skip(f"benchmarks not found at {benchmarks.resolve()}")
    train = {_norm(text) for path in Path("data/nlu").glob("*.yml") for text, _ in load_examples(path)}
    for path in sorted(benchmarks.glob("*.tsv")):
        if path.name == "mapping.tsv":
            continue
        rows = csv.DictReader(path.open(), delimiter="\t")
        leaked = [row["text"] for row in rows if _norm(row["text"]) in train]
        assert leaked == [], f"{path.name} texts in the training data"
