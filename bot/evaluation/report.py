"""The benchmark report in Markdown (docs/benchmarks/nlu.md) and the one-line summaries.

Sections: the models and inputs, the results table, the fallback threshold
(:mod:`bot.evaluation.threshold_report`), Bitext accuracy per language-variation tag, the
costliest confusions and parse times. Figures only: the plots are :mod:`bot.evaluation.plots`'.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Mapping, Optional, Sequence

from bot.evaluation.calibration import confidently_wrong, expected_calibration_error
from bot.evaluation.datasets import OWN_TEST_NAME, OWN_TEST_SET, SAMPLE_SEED, Rule
from bot.evaluation.markdown import delta, table
from bot.evaluation.results import (
    FileResult,
    PipelineResult,
    calibration_points,
    confusion_table,
)
from bot.evaluation.rules import Scores, per_tag
from bot.evaluation.scoring import accuracy
from bot.evaluation.seeds import seed_table
from bot.evaluation.threshold_report import threshold_section

# Bitext's language-variation tags (TAGS.md of the Bitext datasets).
TAG_NAMES = {
    "B": "basic syntactic structure",
    "C": "coordinated syntax",
    "D": "indirect speech",
    "E": "abbreviations",
    "G": "regional variation",
    "I": "interrogative",
    "K": "keyword only",
    "L": "lexical/semantic variation",
    "M": "morphological variation",
    "N": "negation",
    "P": "polite",
    "Q": "colloquial",
    "R": "respect structures",
    "W": "offensive",
    "Y": "code switching",
    "Z": "typos and errors",
}


def summary_line(name: str, result: FileResult) -> str:
    """One line of figures for a file (the NLU_RESULTS line of the floor tests, the CLI log)."""
    median, p95 = result.timing
    if result.report is not None:
        right = accuracy(result.report.pairs).hits
        figures = f"intent accuracy {result.report.accuracy:.1%} ({right}/{len(result.parsed)})"
    else:
        s = result.scores
        figures = ", ".join(
            f"{label} {metric}"
            for label, metric in (
                ("core", s.core_accuracy),
                ("unsupported-safe", s.unsupported_safe),
                ("OOS recall", s.oos_recall),
                ("false fallback", s.false_fallback),
            )
            if metric.total
        )
    return f"{name}: {figures}; parse median {median:.0f} ms, p95 {p95:.0f} ms"


def render_markdown(
    results: Sequence[PipelineResult],
    mapping: Mapping[str, Rule],
    *,
    command: str,
    benchmarks_dir: Path,
    sample: Optional[int],
    date: str,
    seeds: Sequence[PipelineResult] = (),
) -> str:
    lines = _introduction(results, command, benchmarks_dir, sample, date)
    lines += _results_table(results)
    lines += seed_section(seeds, mapping)
    lines += calibration_section(results, mapping)
    lines += threshold_section(results, mapping)
    lines += _per_tag_section(results)
    lines += _confusion_section(results, mapping)
    lines += _timing_section(results)
    return "\n".join(lines)


def _introduction(
    results: Sequence[PipelineResult],
    command: str,
    benchmarks_dir: Path,
    sample: Optional[int],
    date: str,
) -> List[str]:
    lines = [
        "# NLU benchmarks",
        "",
        f"Generated {date} by `{command}` (do not edit by hand: rerun it).",
        "",
        "Models, both trained on this project's own domain.yml and data/ "
        "(`bot.nlu.training.ensure_model` names each after a hash of its inputs):",
        "",
    ]
    for r in results:
        lines.append(
            f"- **{r.name}**: `{r.model.name}` from `{r.config}` "
            f"(FallbackClassifier threshold {r.threshold:g}, ambiguity "
            f"{r.ambiguity_threshold:g}; loaded in {r.load_seconds:.1f} s)"
            + (f". **{r.stale}.**" if r.stale else "")
        )
    return lines + [
        "",
        f"Benchmarks: `{benchmarks_dir}` (Bitext and CLINC150; scoring rules in its README.md: "
        "`core` right when the intent is one `mapping.tsv` accepts, `unsupported` right when no "
        "order transaction starts, `out_of_scope` right on `out_of_scope`/`nlu_fallback`). "
        f"Own test set: `{OWN_TEST_SET}`, plain intent accuracy.",
        "",
        (
            "**Sample run**: at most " + str(sample) + " messages per file, stratified by intent "
            f"(seed {SAMPLE_SEED}); figures are indicative only."
        )
        if sample
        else "All messages of every file.",
        "",
        "Bitext is synthetic (optimistic figures); CLINC150 is crowdsourced. "
        "The threshold is chosen on the dev files only; the test files are for reporting.",
        "",
        "## Results",
        "",
    ]


def _results_table(results: Sequence[PipelineResult]) -> List[str]:
    names = [r.name for r in results]
    two = len(names) == 2
    header = ["file", "metric"] + names + (["ours − baseline"] if two else [])
    rows = []
    for file_name in results[0].files:
        files = [r.files[file_name] for r in _columns(results)]
        label = f"{file_name} ({len(files[0].parsed)})"
        if files[0].report is not None:
            accs = [accuracy(f.report.pairs) for f in files]
            rows.append([label, "intent accuracy"] + [str(a) for a in accs] + _delta(accs, two))
            continue
        for attr, metric in Scores.METRICS:
            rates = [getattr(f.scores, attr) for f in files]
            if rates[0].total:
                rows.append([label, metric] + [str(r) for r in rates] + _delta(rates, two))
    return table(header, rows, "ll" + "r" * (len(header) - 2)) + [
        "",
        "False-fallback rate: core messages predicted `nlu_fallback` or `out_of_scope` "
        "(lower is better).",
        "",
    ]


def seed_section(seeds: Sequence[PipelineResult], mapping: Mapping[str, Rule]) -> List[str]:
    """Every target figure per DIET seed, and its mean ± spread (half the range)."""
    if not seeds:
        return []
    header = ["figure"] + [f"seed {r.seed}" for r in seeds] + ["mean ± spread"]
    rows = [
        [label]
        + [_percent(v, label) for v in values]
        + [f"{_percent(m[0], label)} ± {_percent(m[1], label)}" if m else "–"]
        for label, values, m in seed_table(seeds, mapping)
    ]
    return [
        f"## Over {len(seeds)} seeds ({seeds[0].name})",
        "",
        "The same pipeline with only DIETClassifier's `random_seed` changed (configs derived from "
        f"`{seeds[0].config}` in `bot.evaluation.seeds`; the extra seeds are trained NLU-only). "
        "Spread = half the range over the seeds. ECE as in the next section.",
        "",
        *table(header, rows, "l" + "r" * (len(header) - 1)),
        "",
    ]


def _percent(value, label: str) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if label.endswith("ECE") else f"{value:.1%}"


def calibration_section(
    results: Sequence[PipelineResult], mapping: Mapping[str, Rule]
) -> List[str]:
    """Expected calibration error per file and pipeline, and the confidently wrong messages."""
    names = [r.name for r in results]
    header = ["file"] + [f"{x} ECE" for x in names] + [f"{x} wrong at ≥ 0.99" for x in names]
    rows = []
    for file_name in results[0].files:
        points = [calibration_points(r.files[file_name], mapping) for r in _columns(results)]
        eces = [f"{expected_calibration_error(p):.3f}" for p in points]
        wrong = [confidently_wrong(p) for p in points]
        rows.append([f"{file_name} ({len(points[0])})"] + eces + [f"{a} of {b}" for a, b in wrong])
    return [
        "## Calibration",
        "",
        "Does a confidence of 0.9 mean right 9 times in 10? Per message the classifier's own top "
        "intent (before the FallbackClassifier) and its confidence; `unsupported` messages are "
        "left out (their rule does not judge the intent). Expected calibration error over 10 "
        "equal-width confidence bins (0 = calibrated; `bot.evaluation.calibration`), and how many "
        "wrong messages had a confidence of at least 0.99.",
        "",
        *table(header, rows, "l" + "r" * (len(header) - 1)),
        "",
        "![reliability](reliability.png)",
        "",
    ]


def _columns(results: Sequence[PipelineResult]) -> List[PipelineResult]:
    """The result shown in each pipeline's column (the last of a name given twice)."""
    by_name = {r.name: r for r in results}
    return [by_name[r.name] for r in results]


def _delta(rates: Sequence, two: bool) -> List[str]:
    return [delta(*rates)] if two else []


def _per_tag_section(results: Sequence[PipelineResult]) -> List[str]:
    bitext = [f for f in results[0].files if f.startswith("bitext")]
    if not bitext:
        return []
    names = [r.name for r in results]
    tag_rates = {(f, r.name): per_tag(r.files[f].outcomes) for f in bitext for r in results}
    header = ["tag", "meaning"] + [f"{f} {x}" for f in bitext for x in names]
    rows = []
    for tag in sorted({t for rates in tag_rates.values() for t in rates}):
        cells = [tag, TAG_NAMES.get(tag, "")]
        for f in bitext:
            for x in names:
                rate = tag_rates[(f, x)].get(tag)
                cells.append(str(rate) if rate else "–")
        rows.append(cells)
    return [
        "## Bitext accuracy per language-variation tag",
        "",
        "Right = the row's rule (core: accepted intent; unsupported: no transaction). "
        "A message counts for every letter in its tags.",
        "",
        *table(header, rows, "ll" + "r" * (len(header) - 2)),
        "",
    ]


def _confusion_section(results: Sequence[PipelineResult], mapping: Mapping[str, Rule]) -> List[str]:
    names = [r.name for r in results]
    lines = [
        "## Costliest confusions",
        "",
        "Wrong predictions over all four benchmark files, by (source intent → predicted "
        "label); counts per pipeline. Chart: `confusions.png`.",
        "",
    ]
    lines += table(
        ["source_intent → predicted", "kind"] + names,
        [
            [f"{s} → {p}", mapping[s].kind if s in mapping else ""]
            + [counts.get(x, 0) for x in names]
            for (s, p), counts in confusion_table(results)
        ],
        "ll" + "r" * len(names),
    )
    lines += ["", "![top confusions](confusions.png)", ""]
    for r in results:
        own = r.files.get(OWN_TEST_NAME)
        if own is not None and own.report.confusions(8):
            lines += [
                f"Own test set, **{r.name}** (expected → predicted): "
                + "; ".join(f"{e} → {p} ({n})" for (e, p), n in own.report.confusions(8)),
                "",
            ]
    return lines


def _timing_section(results: Sequence[PipelineResult]) -> List[str]:
    names = [r.name for r in results]
    header = ["file"] + [f"{x} median / p95 (ms)" for x in names]
    rows = []
    columns = _columns(results)
    for file_name in results[0].files:
        cells = [file_name]
        for r in columns:
            median, p95 = r.files[file_name].timing
            cells.append(f"{median:.1f} / {p95:.1f}")
        rows.append(cells)
    rows.append(
        ["first parse after load"] + [f"{r.first_parse_seconds * 1000:.0f}" for r in columns]
    )
    return [
        "## Parse time per message",
        "",
        "`Agent.parse_message`, one message at a time, after one warm-up parse "
        f"(its time is listed separately). Machine: {os.cpu_count()} CPU cores, load "
        f"average {_load_average()} at the end of the run (other work on the machine "
        "slows the parses).",
        "",
        *table(header, rows),
        "",
    ]


def _load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1/5/15 min)"
    except OSError:
        return "unknown"
