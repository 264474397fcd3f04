"""The trained model on a fixed sample of the public dev benchmarks: floors a few points under
the targets, so a regression fails the suite. Full figures: ``python -m bot.evaluation.benchmark``.

Dev files only (``*_test.tsv`` are for reporting). The benchmark texts are read here at test
time; they are never training data.
"""

from __future__ import annotations

import pytest

from bot.evaluation.datasets import (
    default_benchmarks_dir,
    load_mapping,
    load_rows,
    stratified_sample,
)
from bot.evaluation.parsing import evaluate_benchmark
from bot.evaluation.report import summary_line
from bot.evaluation.rules import confusions
from tests.support.report import NLU_RESULTS

BITEXT_DEV_SAMPLE = 250  # stratified by source intent, fixed seed; CLINC dev is used whole (120)

# Floors (targets in parentheses). Do not lower a floor to make a model pass: improve the data.
BITEXT_CORE_ACCURACY = 0.88  # (0.92)
CLINC_ORDER_STATUS_ACCURACY = 0.85  # (0.90; 17 of the 20 dev messages)
UNSUPPORTED_SAFE = 0.92  # (0.95)
OOS_RECALL = 0.85  # (0.90)
MAX_FALSE_FALLBACK = 0.08  # (0.05)


@pytest.fixture(scope="module")
def dev(request):
    """bitext_dev / clinc_dev -> FileResult, parsed once with the session's model."""
    benchmarks = default_benchmarks_dir()
    if not benchmarks.is_dir():
        pytest.skip(f"benchmarks directory {benchmarks} does not exist (set BENCHMARKS_DIR)")
    agent = request.getfixturevalue("nlu_agent")
    mapping = load_mapping(benchmarks / "mapping.tsv")
    inputs = {
        "bitext_dev": stratified_sample(
            load_rows(benchmarks / "bitext_dev.tsv"), BITEXT_DEV_SAMPLE
        ),
        "clinc_dev": load_rows(benchmarks / "clinc_dev.tsv"),
    }
    results = {
        name: evaluate_benchmark(agent, name, rows, mapping) for name, rows in inputs.items()
    }
    for name, result in results.items():
        NLU_RESULTS.append(
            "Benchmark " + summary_line(f"{name} ({len(result.parsed)} msgs)", result)
        )
    return results


def _worst(result, kind):
    return ", ".join(
        f"{s} -> {p} ({n})"
        for (s, p), n in confusions([o for o in result.outcomes if o.kind == kind], top=6)
    )


@pytest.mark.model
def test_bitext_dev_core_accuracy(dev):
    rate = dev["bitext_dev"].scores.core_accuracy
    assert rate.value >= BITEXT_CORE_ACCURACY, (
        f"core accuracy {rate}; {_worst(dev['bitext_dev'], 'core')}"
    )


@pytest.mark.model
def test_clinc_dev_order_status_accuracy(dev):
    rate = dev["clinc_dev"].scores.core_accuracy
    assert rate.value >= CLINC_ORDER_STATUS_ACCURACY, (
        f"order_status accuracy {rate}; {_worst(dev['clinc_dev'], 'core')}"
    )


@pytest.mark.model
def test_unsupported_requests_start_no_transaction(dev):
    rate = dev["bitext_dev"].scores.unsupported_safe
    assert rate.value >= UNSUPPORTED_SAFE, (
        f"unsupported-safe {rate}; {_worst(dev['bitext_dev'], 'unsupported')}"
    )


@pytest.mark.model
def test_out_of_scope_recall(dev):
    rate = dev["clinc_dev"].scores.oos_recall
    assert rate.value >= OOS_RECALL, (
        f"out-of-scope recall {rate}; {_worst(dev['clinc_dev'], 'out_of_scope')}"
    )


@pytest.mark.model
def test_false_fallbacks(dev):
    rate = dev["bitext_dev"].scores.false_fallback
    fell = [o for o in dev["bitext_dev"].outcomes if o.kind == "core" and o.fell_back]
    assert rate.value <= MAX_FALSE_FALLBACK, f"false fallbacks {rate}; " + ", ".join(
        f"{s} -> {p} ({n})" for (s, p), n in confusions(fell, top=6)
    )
