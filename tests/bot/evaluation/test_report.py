"""The Markdown report, the summary lines and the charts of hand-made results (no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.evaluation.datasets import OWN_TEST_NAME, Row
from bot.evaluation.plots import plot_confusions, plot_reliability, plot_threshold
from bot.evaluation.report import render_markdown, summary_line
from bot.evaluation.results import FileResult, ParsedRow, PipelineResult, confusion_table
from bot.evaluation.rules import score
from bot.evaluation.scoring import Prediction, Report, label_of
from tests.bot.evaluation.samples import MAPPING, rasa_parse

BITEXT = [
    (Row("where is it", "track_order", "BL"), rasa_parse(("order_status", 0.9), ("greet", 0.05))),
    (Row("refund?", "get_refund", "Q"), rasa_parse(("greet", 0.6), ("refund_status", 0.2))),
    (Row("new account", "create_account", "B"), rasa_parse(("cancel_order", 0.8), ("greet", 0.1))),
]
CLINC = [
    (Row("play a song", "oos"), rasa_parse(("greet", 0.4), ("thank", 0.1))),
    (Row("track it", "track_order"), rasa_parse(("order_status", 0.95), ("greet", 0.01))),
]
OWN = [
    (Row("hi", "greet"), rasa_parse(("greet", 0.99))),
    (Row("bye", "goodbye"), rasa_parse(("greet", 0.5))),
]


def _file(name, rows):
    parsed = [ParsedRow(row, parse, 0.01 * (i + 1)) for i, (row, parse) in enumerate(rows)]
    if name == OWN_TEST_NAME:
        predictions = [
            Prediction(p.row.text, p.row.source_intent, *label_of(p.parse), p.seconds)
            for p in parsed
        ]
        return FileResult(name, parsed, report=Report(predictions))
    return FileResult(name, parsed, [score(p.row, p.label, MAPPING) for p in parsed])


@pytest.fixture
def results():
    files = {"bitext_dev": BITEXT, "clinc_dev": CLINC, OWN_TEST_NAME: OWN}
    return [
        PipelineResult(
            name,
            "config.yml",
            Path(f"models/{name}-abc.tar.gz"),
            1.0,
            0.5,
            0.3,
            0.1,
            {file: _file(file, rows) for file, rows in files.items()},
        )
        for name in ("ours", "baseline")
    ]


def test_summary_lines(results):
    files = results[0].files
    assert summary_line("own", files[OWN_TEST_NAME]) == (
        "own: intent accuracy 50.0% (1/2); parse median 10 ms, p95 20 ms"
    )
    assert summary_line("bitext", files["bitext_dev"]) == (
        "bitext: core 50.0% (1/2), unsupported-safe 0.0% (0/1), false fallback 0.0% (0/2); "
        "parse median 20 ms, p95 30 ms"
    )


def test_the_report_has_every_section(results):
    markdown = render_markdown(
        results, MAPPING, command="python -m x", benchmarks_dir=Path("b"), sample=None, date="d"
    )
    for heading in (
        "# NLU benchmarks",
        "## Results",
        "## Fallback threshold",
        "## Bitext accuracy per language-variation tag",
        "## Costliest confusions",
        "## Parse time per message",
    ):
        assert f"\n{heading}\n" in "\n" + markdown
    assert "| bitext_dev (3) | core accuracy | 50.0% (1/2) | 50.0% (1/2) | +0.0 pt |" in markdown
    assert (
        "| own test set (2) | intent accuracy | 50.0% (1/2) | 50.0% (1/2) | +0.0 pt |" in markdown
    )
    assert "| create_account → cancel_order | unsupported | 1 | 1 |" in markdown
    assert "Own test set, **ours** (expected → predicted): goodbye → greet (1)" in markdown


def test_confusion_table_and_charts(results, tmp_path):
    assert confusion_table(results)[0] == (
        ("create_account", "cancel_order"),
        {"ours": 1, "baseline": 1},
    )
    plot_threshold(results, MAPPING, tmp_path / "threshold.png")
    plot_confusions(results, tmp_path / "confusions.png")
    plot_reliability(results[0], MAPPING, tmp_path / "reliability.png")
    for name in ("threshold.png", "confusions.png", "reliability.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_the_calibration_section(results):
    markdown = render_markdown(
        results, MAPPING, command="python -m x", benchmarks_dir=Path("b"), sample=None, date="d"
    )
    assert "\n## Calibration\n" in markdown
    # (0.9 right) and (0.6 wrong); the unsupported message is left out
    assert "| bitext_dev (2) | 0.350 | 0.350 | 0 of 1 | 0 of 1 |" in markdown
    assert "| own test set (2) | 0.255 | 0.255 | 0 of 1 | 0 of 1 |" in markdown
    assert "![reliability](reliability.png)" in markdown
    assert "## Over" not in markdown  # no seeds given


def test_the_seed_section_gives_mean_and_spread(results):
    seeds = results  # two runs of the same figures, as seeds 7 and 13
    for result, seed in zip(seeds, (7, 13), strict=True):
        result.seed = seed
    markdown = render_markdown(
        results[:1],
        MAPPING,
        command="python -m x",
        benchmarks_dir=Path("b"),
        sample=None,
        date="d",
        seeds=seeds,
    )
    assert "\n## Over 2 seeds (ours)\n" in markdown
    assert "| figure | seed 7 | seed 13 | mean ± spread |" in markdown
    assert "| bitext_dev core accuracy | 50.0% | 50.0% | 50.0% ± 0.0% |" in markdown
    assert "| clinc_dev out-of-scope recall | 0.0% | 0.0% | 0.0% ± 0.0% |" in markdown
    assert "| bitext_dev ECE | 0.350 | 0.350 | 0.350 ± 0.000 |" in markdown
