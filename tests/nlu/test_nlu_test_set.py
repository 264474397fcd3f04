"""The model against the held-out NLU test set written in customers' own words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.evaluation.datasets import load_examples
from bot.evaluation.parsing import evaluate_file
from tests.support.report import NLU_RESULTS

TEST_SET = Path("tests/nlu/test_nlu.yml")
TARGET_ACCURACY = 0.90


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def test_the_test_set_is_large_and_disjoint_from_the_training_data():
    test = load_examples(TEST_SET)
    train = {
        _norm(text) for path in Path("data/nlu").glob("*.yml") for text, _ in load_examples(path)
    }
    assert len(test) >= 150
    leaked = [text for text, _ in test if _norm(text) in train]
    assert leaked == []


@pytest.mark.model
def test_intent_accuracy_on_the_test_set_meets_the_target(nlu_agent):
    report = evaluate_file(nlu_agent, TEST_SET)
    NLU_RESULTS.append(report.summary(f"NLU test set ({TEST_SET})"))
    assert report.accuracy >= TARGET_ACCURACY, report.summary("NLU test set")


def test_no_benchmark_message_is_in_the_training_data():
    """The benchmarks measure understanding of text nobody here wrote: none may leak into
    training.
    """
    train = {_norm(text) for text in _training_texts()}
    leaked = [(name, text) for name, text in _benchmark_texts() if _norm(text) in train]
    assert leaked == [], "benchmark texts in the training data"


# Near copies: a benchmark text with a typo added, a word swapped or "you" for "i".
# Short phrases ("cancel my order") are how everyone says it and are left alone.
NEAR_COPY_RATIO, NEAR_COPY_MIN_CHARS = 0.9, 20


def test_no_benchmark_message_is_in_the_training_data_with_small_edits():
    import difflib

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    train = sorted({_norm(t) for t in _training_texts() if len(_norm(t)) >= NEAR_COPY_MIN_CHARS})
    bench = sorted({_norm(text) for _, text in _benchmark_texts()})
    # Character n-grams find the few closest candidates; the edit ratio decides.
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(train + bench)
    similar = cosine_similarity(vectorizer.transform(train), vectorizer.transform(bench))
    near = []
    for i, text in enumerate(train):
        for j in similar[i].argsort()[-3:]:
            if difflib.SequenceMatcher(None, text, bench[j]).ratio() >= NEAR_COPY_RATIO:
                near.append((text, bench[j]))
    assert near == [], "training examples that are benchmark texts with small edits"


def _training_texts():
    return [text for path in Path("data/nlu").glob("*.yml") for text, _ in load_examples(path)]


def _benchmark_texts():
    import csv

    benchmarks = Path("../shared/benchmarks")
    if not benchmarks.is_dir():
        pytest.skip(f"benchmarks not found at {benchmarks.resolve()}")
    for path in sorted(benchmarks.glob("*.tsv")):
        if path.name != "mapping.tsv":
            for row in csv.DictReader(path.open(), delimiter="\t"):
                yield path.name, row["text"]
