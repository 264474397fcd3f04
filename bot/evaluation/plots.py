"""The benchmark report's charts (matplotlib, no display): threshold.png, confusions.png and
reliability.png."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from bot.evaluation.calibration import expected_calibration_error, reliability_bins
from bot.evaluation.datasets import Rule
from bot.evaluation.results import PipelineResult, calibration_points, confusion_table
from bot.evaluation.threshold import MAX_FALSE_FALLBACK, CurvePoint, choose_threshold

STYLES = {"ours": ("tab:blue", "-"), "baseline": ("tab:gray", "--")}
BAR_COLORS = {"ours": "tab:blue", "baseline": "tab:gray"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_threshold(
    results: Sequence[PipelineResult], mapping: Mapping[str, Rule], path: Path
) -> None:
    """Out-of-scope recall against false fallbacks on the dev files, one line per pipeline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for r in results:
        _plot_curve(ax, r, r.curve(mapping))
    ax.axvline(
        MAX_FALSE_FALLBACK * 100,
        color="tab:red",
        linewidth=0.8,
        linestyle=":",
        label=f"false-fallback limit {MAX_FALSE_FALLBACK:.0%}",
    )
    ax.set_xlabel("false-fallback rate, Bitext dev core messages (%)")
    ax.set_ylabel("out-of-scope recall, CLINC dev (%)")
    ax.set_title("Fallback threshold 0.00–0.95 (dev files)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(plt, fig, path)


def _plot_curve(ax: Any, r: PipelineResult, points: List[CurvePoint]) -> None:
    color, line = STYLES.get(r.name, ("tab:green", ":"))
    xs = [p.false_fallback.value * 100 for p in points]
    ys = [p.oos_recall.value * 100 for p in points]
    ax.plot(xs, ys, line, marker=".", color=color, label=r.name)
    if r.name == "ours":
        _annotate_thresholds(ax, points, xs, ys, color)
    current = [p for p in points if abs(p.threshold - r.threshold) < 1e-9]
    if current:
        label = f"{r.name}: configured {r.threshold:g}"
        _mark(ax, current[0], marker="*", markersize=15, color=color, label=label)
    if r.name == "ours":
        chosen = choose_threshold(points, current=r.threshold)
        if chosen is not None:
            label = f"recommended {chosen.threshold:.2f}"
            _mark(
                ax,
                chosen,
                marker="o",
                markersize=12,
                markerfacecolor="none",
                color="tab:red",
                label=label,
            )


def _mark(ax: Any, point: CurvePoint, **style: Any) -> None:
    """One marker on the curve (the configured or the recommended threshold)."""
    ax.plot(
        [point.false_fallback.value * 100],
        [point.oos_recall.value * 100],
        linestyle="none",
        **style,
    )


def _annotate_thresholds(
    ax: Any, points: List[CurvePoint], xs: List[float], ys: List[float], color: str
) -> None:
    """One label per distinct point: the thresholds that land there."""
    spots: Dict[Tuple[float, float], List[float]] = defaultdict(list)
    for p, x, y in zip(points, xs, ys, strict=True):
        spots[(round(x, 6), round(y, 6))].append(p.threshold)
    for i, ((x, y), ts) in enumerate(spots.items()):
        text = f"{ts[0]:.2f}" if len(ts) == 1 else f"{ts[0]:.2f}–{ts[-1]:.2f}"
        ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            fontsize=7,
            color=color,
            xytext=(5, -11) if i % 2 == 0 else (-8, 6),
            ha="left" if i % 2 == 0 else "right",
        )


def plot_confusions(results: Sequence[PipelineResult], path: Path, top: int = 12) -> None:
    """The costliest confusions over the benchmark files, one bar per pipeline."""
    plt = _pyplot()
    pairs = confusion_table(results, top)[: top + 4]
    fig, ax = plt.subplots(figsize=(9, 0.38 * max(len(pairs), 1) + 1.5))
    if not pairs:
        ax.text(0.5, 0.5, "no confusions", ha="center")
    else:
        _confusion_bars(ax, results, pairs)
    ax.set_title("Costliest confusions: source intent → predicted label")
    _save(plt, fig, path)


def _confusion_bars(
    ax: Any,
    results: Sequence[PipelineResult],
    pairs: List[Tuple[Tuple[str, str], Dict[str, int]]],
) -> None:
    import numpy as np

    labels = [f"{s} → {p}" for (s, p), _ in pairs][::-1]
    positions = np.arange(len(labels))
    height = 0.8 / len(results)
    for i, r in enumerate(results):  # the first pipeline's bar on top
        values = [counts.get(r.name, 0) for _, counts in pairs][::-1]
        ax.barh(
            positions + 0.4 - height / 2 - i * height,
            values,
            height,
            label=r.name,
            color=BAR_COLORS.get(r.name, None),
        )
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_yticks(positions)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("wrong messages (all four benchmark files)")
    ax.legend(fontsize=8)


def plot_reliability(result: PipelineResult, mapping: Mapping[str, Rule], path: Path) -> None:
    """Accuracy against mean confidence per confidence bin, one line per file of one pipeline.

    On the diagonal the confidence is a probability; below it the model is over-confident. The
    marker area follows the bin's share of the file's messages.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.plot([0, 1], [0, 1], color="tab:gray", linewidth=0.8, linestyle=":", label="calibrated")
    for file_name, f in result.files.items():
        points = calibration_points(f, mapping)
        bins = [b for b in reliability_bins(points) if b.count]
        if not bins:
            continue
        ece = expected_calibration_error(points)
        (line,) = ax.plot(
            [b.confidence for b in bins],
            [b.accuracy for b in bins],
            marker=None,
            linewidth=1,
            label=f"{file_name} (ECE {ece:.3f})",
        )
        sizes = [max(400 * b.count / len(points), 6) for b in bins]
        xs, ys = [b.confidence for b in bins], [b.accuracy for b in bins]
        ax.scatter(xs, ys, s=sizes, color=line.get_color(), alpha=0.7)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean intent confidence in the bin (10 equal-width bins)")
    ax.set_ylabel("share right in the bin")
    ax.set_title(f"Reliability: {result.name}, `{result.model.name}`", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
