"""The "Fallback threshold" section of the benchmark report: the curve, the choice and why."""

from __future__ import annotations

from collections import Counter
from typing import Dict, List, Mapping, Optional, Sequence

from bot.evaluation.datasets import CORE, Rule
from bot.evaluation.markdown import pct, table
from bot.evaluation.results import PipelineResult, parsed_pairs
from bot.evaluation.scoring import FALLBACK
from bot.evaluation.threshold import (
    MAX_FALSE_FALLBACK,
    RECALL_SLACK,
    THRESHOLDS,
    CurvePoint,
    choose_threshold,
    relabel,
    threshold_curve,
    within_limit,
)

Curves = Dict[str, List[CurvePoint]]


def threshold_section(results: Sequence[PipelineResult], mapping: Mapping[str, Rule]) -> List[str]:
    ours = next((r for r in results if r.name == "ours"), results[0])
    curves = {r.name: r.curve(mapping) for r in results}
    chosen = choose_threshold(curves[ours.name], current=ours.threshold)
    lines = _introduction(ours)
    if chosen is None:
        lines += _no_recommendation(ours, curves[ours.name], mapping)
    else:
        lines += _recommendation(ours, curves[ours.name], chosen, mapping)
    return lines + _curve_table(results, curves, ours, chosen)


def _introduction(ours: PipelineResult) -> List[str]:
    same, total = ours.curve_reproduces_live()
    return [
        "## Fallback threshold",
        "",
        "Predictions recomputed from each parse's `intent_ranking` for FallbackClassifier "
        "thresholds 0.00–0.95 (no retraining): the top intent other than `nlu_fallback` becomes "
        "`nlu_fallback` when its confidence is below the threshold (or within the ambiguity "
        "threshold of the runner-up, held at the configured value). Out-of-scope recall on "
        "CLINC dev, false fallbacks and core accuracy on Bitext dev core messages. "
        f"Check: at the configured threshold the recomputation reproduces {same}/{total} live "
        f"predictions of `{ours.name}`.",
        "",
    ]


def _no_recommendation(
    ours: PipelineResult, points: Sequence[CurvePoint], mapping: Mapping[str, Rule]
) -> List[str]:
    best = min(
        points,
        key=lambda p: (p.false_fallback.value or 0.0, -(p.oos_recall.value or 0.0)),
    )
    kinds = Counter(
        relabel(p.parse, best.threshold, ours.ambiguity_threshold)
        for p in ours.files["bitext_dev"].parsed
        if mapping[p.row.source_intent].kind == CORE
    )
    return [
        f"**No recommendation: no threshold keeps false fallbacks ≤ "
        f"{MAX_FALSE_FALLBACK:.0%} on Bitext dev** for `{ours.name}`. The fewest are at "
        f"{best.threshold:.2f}: {best.false_fallback}, out-of-scope recall "
        f"{best.oos_recall}. No threshold can remove them: {kinds['out_of_scope']} are "
        f"core messages classified `out_of_scope` and {kinds[FALLBACK]} fall back on "
        f"the ambiguity rule (runner-up within {ours.ambiguity_threshold:g}). Keep the "
        f"configured {ours.threshold:g} until the training data improves.",
        "",
    ]


def _recommendation(
    ours: PipelineResult,
    points: Sequence[CurvePoint],
    chosen: CurvePoint,
    mapping: Mapping[str, Rule],
) -> List[str]:
    lines = [
        f"**Recommended threshold for `config.yml`: {chosen.threshold:.2f}** "
        f"(configured: {ours.threshold:g}). Why: {_reason(points, chosen)}."
    ]
    current = next((p for p in points if abs(p.threshold - ours.threshold) < 1e-9), None)
    if current is not None:
        lines += [
            "",
            f"At the configured {ours.threshold:g}: out-of-scope recall "
            f"{current.oos_recall}, false fallbacks {current.false_fallback}, core "
            f"accuracy {current.core_accuracy}.",
        ]
    held_out = held_out_check(ours, mapping, chosen.threshold)
    if held_out:
        lines += ["", held_out]
    if abs(chosen.threshold - ours.threshold) < 1e-9:
        return lines + ["", "`config.yml` uses it.", ""]
    return lines + [
        "",
        "Not applied here: edit `config.yml` to adopt it. The figures above "
        "assume the rest of the model unchanged.",
        "",
    ]


def _reason(points: Sequence[CurvePoint], chosen: CurvePoint) -> str:
    """Why ``chosen``: the recall it keeps, then the thresholds over the limit, then the ties."""
    allowed = within_limit(points)
    best = max(allowed, key=lambda p: (p.oos_recall.hits, -p.threshold))
    limit = (
        f"among the thresholds whose false-fallback rate on Bitext dev core stays ≤ "
        f"{MAX_FALSE_FALLBACK:.0%}"
    )
    if best.oos_recall.hits == chosen.oos_recall.hits:
        reason = (
            f"it gives the highest out-of-scope recall on CLINC dev "
            f"({chosen.oos_recall}) {limit} ({chosen.false_fallback}; core accuracy "
            f"{chosen.core_accuracy})"
        )
    else:
        reason = (
            f"{limit}, the highest out-of-scope recall on CLINC dev is "
            f"{best.oos_recall} at {best.threshold:.2f}; a recall within "
            f"{RECALL_SLACK} message of it counts as a tie (one message in "
            f"{best.oos_recall.total} is noise, while each step up sends more real "
            f"requests to the fallback), and {chosen.threshold:.2f} has the fewest false "
            f"fallbacks of those: out-of-scope recall {chosen.oos_recall}, false "
            f"fallbacks {chosen.false_fallback}, core accuracy {chosen.core_accuracy} "
            f"(at {best.threshold:.2f}: {best.false_fallback} and "
            f"{best.core_accuracy})"
        )
    return reason + _over_limit(points, chosen) + _ties(allowed, chosen, best)


def _over_limit(points: Sequence[CurvePoint], chosen: CurvePoint) -> str:
    over = [
        p
        for p in points
        if p.threshold > chosen.threshold
        and p.false_fallback.value is not None
        and p.false_fallback.value > MAX_FALSE_FALLBACK
    ]
    if not over:
        return ""
    return (
        f"; the lowest higher threshold over the limit, {over[0].threshold:.2f}, "
        f"has {over[0].false_fallback} false fallbacks"
    )


def _ties(allowed: Sequence[CurvePoint], chosen: CurvePoint, best: CurvePoint) -> str:
    tied = [
        p.threshold
        for p in allowed
        if p.oos_recall.hits >= best.oos_recall.hits - RECALL_SLACK
        and p.threshold not in (chosen.threshold, best.threshold)
    ]
    if not tied:
        return ""
    return (
        f". Tied on out-of-scope recall as well: "
        f"{', '.join(f'{t:.2f}' for t in tied)}; ties go to fewer false "
        "fallbacks, then higher core accuracy, then the threshold closest to the "
        "configured one"
    )


def _curve_table(
    results: Sequence[PipelineResult],
    curves: Curves,
    ours: PipelineResult,
    chosen: Optional[CurvePoint],
) -> List[str]:
    header = ["threshold"]
    for r in results:
        header += [f"{r.name} OOS recall", f"{r.name} false fallback", f"{r.name} core acc."]
    rows = []
    for i, threshold in enumerate(THRESHOLDS):
        mark = []
        if abs(threshold - ours.threshold) < 1e-9:
            mark.append("configured")
        if chosen is not None and threshold == chosen.threshold:
            mark.append("**recommended**")
        cells = [f"{threshold:.2f}" + (f" ({', '.join(mark)})" if mark else "")]
        for r in results:
            p = curves[r.name][i]
            cells += [
                pct(p.oos_recall.value),
                pct(p.false_fallback.value),
                pct(p.core_accuracy.value),
            ]
        rows.append(cells)
    return table(header, rows) + ["", "![threshold curve](threshold.png)", ""]


def held_out_check(result: PipelineResult, mapping: Mapping[str, Rule], threshold: float) -> str:
    """The chosen threshold on the test files (reported, not used to choose)."""
    if "clinc_test" not in result.files or "bitext_test" not in result.files:
        return ""
    test = threshold_curve(
        parsed_pairs(result.files["clinc_test"]),
        parsed_pairs(result.files["bitext_test"]),
        mapping,
        [threshold],
        result.ambiguity_threshold,
    )[0]
    return (
        f"Held-out check at {threshold:.2f} (test files, not used for the choice): "
        f"out-of-scope recall {test.oos_recall} on CLINC test, false fallbacks "
        f"{test.false_fallback} and core accuracy {test.core_accuracy} on Bitext test."
    )
