"""Score the bot's NLU on public customer-service benchmarks, next to Rasa's default pipeline.

    python -m bot.evaluation.benchmark [--benchmarks DIR] [--sample N] [--out docs/benchmarks]
                            [--pipelines ours,baseline] [--model NAME=PATH ...]

For each pipeline (``ours`` = config.yml, ``baseline`` = bot/evaluation/baseline_config.yml, both
trained on our own domain and data by ``bot.nlu.training.ensure_model``) the model is loaded once
and every benchmark file (Bitext and CLINC150 dev/test, see ``$BENCHMARKS_DIR/README.md``) plus the
project's own NLU test set is parsed. ``--model`` evaluates a given model file instead (e.g. an
older one); the report flags a model not trained on the current inputs. Written to ``--out``:
``nlu.md`` (the figures), ``threshold.png`` (out-of-scope recall against false fallbacks for
every fallback threshold, recomputed from the stored intent rankings: no retraining) and
``confusions.png``.

The benchmark texts are read here at evaluation time only; they never go into training data.
Tune on the ``*_dev`` files only (the threshold choice below uses dev only).

Layout: plain scoring functions first (rows + predicted labels -> outcomes -> rates; unit tested
in tests/nlu/test_benchmark_scoring.py without a model), then parsing with a loaded Agent, then
the report and plots.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime
import os
import random
import shlex
import sys
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar

from bot.evaluation.scoring import (
    FALLBACK,
    Prediction,
    Report,
    faq_label,
    label_of,
    load_examples,
    parse_timed,
    percentile,
)

REPO_DIR = Path(__file__).resolve().parents[2]
BENCHMARK_FILES = ("bitext_dev", "bitext_test", "clinc_dev", "clinc_test")
OWN_TEST_SET = Path("tests/nlu/test_nlu.yml")
OWN_TEST_NAME = "own test set"
# name -> (config, model name given to ensure_model). The baseline is only ever parsed here, so
# it is trained NLU-only: its dialogue policies would add half an hour of training for nothing.
PIPELINES: Dict[str, Tuple[str, str]] = {
    "ours": ("config.yml", "storefront"),
    "baseline": ("bot/evaluation/baseline_config.yml", "baseline-nlu"),
}
NLU_ONLY = frozenset({"baseline"})

CORE, UNSUPPORTED, OUT_OF_SCOPE = "core", "unsupported", "out_of_scope"
# Predictions that start a transaction on the customer's order: wrong for unsupported requests.
TRANSACTIONS: FrozenSet[str] = frozenset(
    {"order_status", "return_request", "refund_status", "cancel_order"}
)
# A core request answered with one of these fell through: a false fallback.
FALLBACK_LABELS: FrozenSet[str] = frozenset({FALLBACK, "out_of_scope"})

THRESHOLDS: Tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20))  # 0.0 .. 0.95
MAX_FALSE_FALLBACK = 0.05  # the threshold choice keeps false fallbacks on Bitext dev core <= this
RECALL_SLACK = 1  # out-of-scope dev messages by which a threshold may trail the best and still tie
SAMPLE_SEED = 1729

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


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Rule:
    """How mapping.tsv scores one source intent."""

    kind: str  # core | unsupported | out_of_scope
    accepted: FrozenSet[str] = frozenset()


@dataclass(frozen=True)
class Row:
    """One benchmark message."""

    text: str
    source_intent: str
    tags: str = ""


def parse_mapping(lines: Iterable[str]) -> Dict[str, Rule]:
    """mapping.tsv content (header ``source_intent kind accepted``) -> source_intent -> Rule."""
    reader = csv.DictReader(lines, delimiter="\t")
    mapping: Dict[str, Rule] = {}
    for record in reader:
        kind = record["kind"].strip()
        if kind not in (CORE, UNSUPPORTED, OUT_OF_SCOPE):
            raise ValueError(f"mapping: unknown kind {kind!r} for {record['source_intent']!r}")
        accepted = frozenset(a for a in (record.get("accepted") or "").split() if a != "-")
        mapping[record["source_intent"].strip()] = Rule(kind, accepted)
    return mapping


def load_mapping(path: Path) -> Dict[str, Rule]:
    with path.open(newline="", encoding="utf-8") as handle:
        return parse_mapping(handle)


def parse_rows(lines: Iterable[str]) -> List[Row]:
    """A benchmark TSV (``text source_intent [tags]``, CSV quoting) -> rows."""
    return [
        Row(record["text"], record["source_intent"].strip(), (record.get("tags") or "").strip())
        for record in csv.DictReader(lines, delimiter="\t")
    ]


def load_rows(path: Path) -> List[Row]:
    with path.open(newline="", encoding="utf-8") as handle:
        return parse_rows(handle)


def default_benchmarks_dir() -> Path:
    return Path(os.environ.get("BENCHMARKS_DIR") or REPO_DIR.parent / "shared" / "benchmarks")


T = TypeVar("T")


def stratified_sample(
    items: Sequence[T], n: Optional[int], key=lambda row: row.source_intent, seed: int = SAMPLE_SEED
) -> List[T]:
    """A deterministic subset of about ``n`` items with each stratum's share kept.

    Quotas are proportional (largest remainder, ties by stratum name), every stratum keeps at
    least one item when n allows it, and the result keeps the input order.
    """
    if n is None or n >= len(items):
        return list(items)
    if n <= 0:
        return []
    groups: Dict[str, List[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[key(item)].append(index)
    exact = {name: n * len(indices) / len(items) for name, indices in groups.items()}
    quota = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(groups, key=lambda name: (-(exact[name] - quota[name]), name))
    for name in by_remainder[: n - sum(quota.values())]:
        quota[name] += 1
    # Strata rounded down to nothing get one item, taken from the largest quotas.
    for name in sorted(groups):
        if quota[name] == 0:
            donor = max(sorted(quota), key=lambda other: quota[other])
            if quota[donor] > 1:
                quota[donor] -= 1
                quota[name] = 1
    rng = random.Random(seed)
    chosen: List[int] = []
    for name in sorted(groups):
        chosen.extend(rng.sample(groups[name], quota[name]))
    return [items[index] for index in sorted(chosen)]


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Outcome:
    """What one prediction means for one benchmark row."""

    source_intent: str
    kind: str
    predicted: str
    right: bool  # core: an accepted intent; unsupported: no transaction; oos: fallback/oos
    fell_back: bool  # predicted nlu_fallback or out_of_scope
    tags: str = ""


def accepts(accepted: FrozenSet[str], predicted: str) -> bool:
    """Is ``predicted`` one of ``accepted``? ("faq" accepts every ``faq/<topic>``)."""
    if predicted in accepted:
        return True
    return "faq" in accepted and (predicted == "faq" or predicted.startswith("faq/"))


def score(row: Row, predicted: str, mapping: Mapping[str, Rule]) -> Outcome:
    """Score one benchmark row's predicted label by the rules of the benchmarks README."""
    try:
        rule = mapping[row.source_intent]
    except KeyError:
        raise KeyError(f"source intent {row.source_intent!r} is not in mapping.tsv") from None
    if rule.kind == CORE:
        right = accepts(rule.accepted, predicted)
    elif rule.kind == UNSUPPORTED:
        right = predicted not in TRANSACTIONS
    else:
        right = predicted in (rule.accepted or FALLBACK_LABELS)
    return Outcome(
        row.source_intent, rule.kind, predicted, right, predicted in FALLBACK_LABELS, row.tags
    )


@dataclass(frozen=True)
class Rate:
    hits: int
    total: int

    @property
    def value(self) -> Optional[float]:
        return self.hits / self.total if self.total else None

    def __str__(self) -> str:
        return f"{self.value:.1%} ({self.hits}/{self.total})" if self.total else "–"


def rate(flags: Iterable[bool]) -> Rate:
    flags = list(flags)
    return Rate(sum(flags), len(flags))


@dataclass(frozen=True)
class Scores:
    core_accuracy: Rate
    unsupported_safe: Rate
    oos_recall: Rate
    false_fallback: Rate  # share of core messages predicted nlu_fallback / out_of_scope

    METRICS = (
        ("core_accuracy", "core accuracy"),
        ("unsupported_safe", "unsupported-safe rate"),
        ("oos_recall", "out-of-scope recall"),
        ("false_fallback", "false-fallback rate"),
    )


def aggregate(outcomes: Sequence[Outcome]) -> Scores:
    core = [o for o in outcomes if o.kind == CORE]
    return Scores(
        core_accuracy=rate(o.right for o in core),
        unsupported_safe=rate(o.right for o in outcomes if o.kind == UNSUPPORTED),
        oos_recall=rate(o.right for o in outcomes if o.kind == OUT_OF_SCOPE),
        false_fallback=rate(o.fell_back for o in core),
    )


def per_tag(outcomes: Sequence[Outcome]) -> Dict[str, Rate]:
    """Tag letter -> share of right outcomes; a message counts for every letter in its tags."""
    hits: Counter = Counter()
    totals: Counter = Counter()
    for outcome in outcomes:
        for letter in set(outcome.tags):
            totals[letter] += 1
            hits[letter] += outcome.right
    return {letter: Rate(hits[letter], totals[letter]) for letter in sorted(totals)}


def confusions(
    outcomes: Iterable[Outcome], top: Optional[int] = None
) -> List[Tuple[Tuple[str, str], int]]:
    """The (source_intent, predicted) pairs of wrong outcomes, most frequent first."""
    pairs = Counter((o.source_intent, o.predicted) for o in outcomes if not o.right)
    return sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:top]


def relabel(parse: Mapping[str, Any], threshold: float, ambiguity_threshold: float = 0.0) -> str:
    """The label the parse would get with another FallbackClassifier threshold.

    The top intent of ``intent_ranking`` that is not ``nlu_fallback`` (the classifier's own
    prediction); below ``threshold``, or within ``ambiguity_threshold`` of the runner-up (the
    FallbackClassifier's second rule, held at its configured value), it becomes ``nlu_fallback``.
    """
    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK]
    if not ranking:
        return label_of(parse)[0]
    top = ranking[0]
    confidence = float(top.get("confidence") or 0.0)
    if confidence < threshold:
        return FALLBACK
    if (
        len(ranking) > 1
        and confidence - float(ranking[1].get("confidence") or 0.0) < ambiguity_threshold
    ):
        return FALLBACK
    return faq_label(parse) if top.get("name") == "faq" else top.get("name") or FALLBACK


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    oos_recall: Rate  # on the out-of-scope side (CLINC dev)
    false_fallback: Rate  # on the core side (Bitext dev)
    core_accuracy: Rate  # on the core side


Parsed = Tuple[Row, Mapping[str, Any]]


def threshold_curve(
    oos_side: Sequence[Parsed],
    core_side: Sequence[Parsed],
    mapping: Mapping[str, Rule],
    thresholds: Sequence[float] = THRESHOLDS,
    ambiguity_threshold: float = 0.0,
) -> List[CurvePoint]:
    """Out-of-scope recall and false fallbacks at each threshold, from stored parses."""
    points = []
    for threshold in thresholds:

        def scores_of(side: Sequence[Parsed], threshold: float = threshold) -> Scores:
            return aggregate(
                [
                    score(row, relabel(parse, threshold, ambiguity_threshold), mapping)
                    for row, parse in side
                ]
            )

        oos, core = scores_of(oos_side), scores_of(core_side)
        points.append(
            CurvePoint(threshold, oos.oos_recall, core.false_fallback, core.core_accuracy)
        )
    return points


def choose_threshold(
    points: Sequence[CurvePoint],
    max_false_fallback: float = MAX_FALSE_FALLBACK,
    current: Optional[float] = None,
    recall_slack: int = RECALL_SLACK,
) -> Optional[CurvePoint]:
    """Highest out-of-scope recall with false fallbacks <= the limit.

    Recalls within ``recall_slack`` out-of-scope messages of the best count as a tie: on a dev
    file of 100 such messages one message is noise, while every step up the threshold sends
    real requests (thanks, yes, order numbers) to the fallback. Ties go to fewer false
    fallbacks, then higher core accuracy, then the threshold closest to ``current`` (the
    configured one: no change without evidence), then the lower threshold.
    None when no threshold keeps false fallbacks within the limit.
    """
    allowed = [
        p
        for p in points
        if p.false_fallback.value is not None and p.false_fallback.value <= max_false_fallback
    ]
    if not allowed:
        return None
    best = max(p.oos_recall.hits for p in allowed)
    tied = [p for p in allowed if p.oos_recall.hits >= best - recall_slack]
    return max(
        tied,
        key=lambda p: (
            round(-p.false_fallback.value, 9),
            round(p.core_accuracy.value or 0.0, 9),
            -abs(p.threshold - current) if current is not None else 0.0,
            -p.threshold,
        ),
    )


def timing_ms(seconds: Sequence[float]) -> Tuple[float, float]:
    """(median, p95) in milliseconds."""
    return percentile(seconds, 0.5) * 1000, percentile(seconds, 0.95) * 1000


# --------------------------------------------------------------------------- parsing


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


async def _parse_all(agent: Any, rows: Sequence[Row]) -> List[ParsedRow]:
    parsed = []
    for row in rows:
        parse, seconds = await parse_timed(agent, row.text)
        parsed.append(ParsedRow(row, parse, seconds))
    return parsed


def parse_with(agent: Any, rows: Sequence[Row]) -> List[ParsedRow]:
    """Parse every row with a loaded Rasa Agent (sequentially, timing each message)."""
    return asyncio.run(_parse_all(agent, rows))


def evaluate_benchmark(
    agent: Any, name: str, rows: Sequence[Row], mapping: Mapping[str, Rule]
) -> FileResult:
    parsed = parse_with(agent, rows)
    return FileResult(name, parsed, [score(p.row, p.label, mapping) for p in parsed])


def evaluate_own_test_set(agent: Any, rows: Sequence[Row]) -> FileResult:
    parsed = parse_with(agent, rows)
    report = Report(
        [Prediction(p.row.text, p.row.source_intent, *label_of(p.parse), p.seconds) for p in parsed]
    )
    return FileResult(OWN_TEST_NAME, parsed, report=report)


def own_test_rows(path: Path = OWN_TEST_SET) -> List[Row]:
    return [Row(text, label) for text, label in load_examples(path)]


def fallback_settings(config_path: Path) -> Tuple[float, float]:
    """(threshold, ambiguity_threshold) of the FallbackClassifier in a Rasa config."""
    import yaml

    config = yaml.safe_load(config_path.read_text()) or {}
    for component in config.get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            return (
                float(component.get("threshold", 0.3)),
                float(component.get("ambiguity_threshold", 0.1)),
            )
    raise ValueError(f"{config_path} has no FallbackClassifier")


def model_fallback_settings(agent: Any) -> Optional[Tuple[float, float]]:
    """The FallbackClassifier settings the loaded model was trained with (None if not found)."""
    try:
        nodes = agent.processor.model_metadata.predict_schema.nodes.values()
    except AttributeError:
        return None
    for node in nodes:
        if getattr(node.uses, "__name__", "") == "FallbackClassifier":
            return (
                float(node.config.get("threshold", 0.3)),
                float(node.config.get("ambiguity_threshold", 0.1)),
            )
    return None


def model_freshness(model: Path, config: str, model_name: str) -> str:
    """ "" if the model file is named after the current inputs' fingerprint, else a warning."""
    from bot.nlu.training import model_fingerprint

    current = model_fingerprint(Path("."), config)
    if model.name == f"{model_name}-{current}.tar.gz":
        return ""
    return (
        f"Not trained on the current inputs: {config}, domain.yml and data/ now hash to {current}"
    )


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

    def curve(self, mapping: Mapping[str, Rule]) -> List[CurvePoint]:
        return threshold_curve(
            _pairs(self.files["clinc_dev"]),
            _pairs(self.files["bitext_dev"]),
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


def _pairs(result: FileResult) -> List[Parsed]:
    return [(p.row, p.parse) for p in result.parsed]


def run_pipeline(
    name: str,
    inputs: Mapping[str, Sequence[Row]],
    mapping: Mapping[str, Rule],
    model: Optional[Path] = None,
) -> PipelineResult:
    """Load the pipeline's model once and parse every input file.

    ``model`` pins a model file; by default ``ensure_model`` returns the one trained on the
    current inputs (training it first if they changed).
    """
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    from bot.nlu.training import ensure_model

    config, model_name = PIPELINES[name]
    if model is None:
        # trains only if the inputs changed
        model = ensure_model(Path("."), config, model_name, nlu_only=name in NLU_ONLY)
    stale = model_freshness(model, config, model_name)
    logging.getLogger("rasa").setLevel(logging.WARNING)
    configure_structlog(logging.WARNING)  # else every parse is printed at debug level
    started = time.perf_counter()
    agent = Agent.load(str(model))
    load_seconds = time.perf_counter() - started
    # The first parse builds the TensorFlow graphs; keep it out of the per-message timings.
    _, first_parse = asyncio.run(parse_timed(agent, "hello"))
    threshold, ambiguity = model_fallback_settings(agent) or fallback_settings(Path(config))
    files: Dict[str, FileResult] = {}
    for file_name, rows in inputs.items():
        print(f"[{name}] {file_name}: parsing {len(rows)} messages", flush=True)
        if file_name == OWN_TEST_NAME:
            files[file_name] = evaluate_own_test_set(agent, rows)
        else:
            files[file_name] = evaluate_benchmark(agent, file_name, rows, mapping)
    return PipelineResult(
        name, config, model, load_seconds, first_parse, threshold, ambiguity, files, stale
    )


# --------------------------------------------------------------------------- report


def _pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1%}"


def _load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1/5/15 min)"
    except OSError:
        return "unknown"


def _delta(a: Rate, b: Rate) -> str:
    if a.value is None or b.value is None:
        return ""
    return f"{(a.value - b.value) * 100:+.1f} pt"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> List[str]:
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def summary_line(name: str, result: FileResult) -> str:
    """One line of figures for a file (the NLU_RESULTS line of the floor tests, the CLI log)."""
    median, p95 = result.timing
    if result.report is not None:
        right = sum(p.correct for p in result.report.predictions)
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
) -> str:
    names = [r.name for r in results]
    by_name = {r.name: r for r in results}
    file_names = list(results[0].files)
    lines: List[str] = [
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
    lines += [
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
    header = ["file", "metric"] + names + (["ours − baseline"] if len(names) == 2 else [])
    table_rows = []
    for file_name in file_names:
        first = by_name[names[0]].files[file_name]
        n = len(first.parsed)
        if first.report is not None:
            accs = [
                Rate(sum(p.correct for p in by_name[x].files[file_name].report.predictions), n)
                for x in names
            ]
            table_rows.append(
                [f"{file_name} ({n})", "intent accuracy"]
                + [str(a) for a in accs]
                + ([_delta(*accs)] if len(names) == 2 else [])
            )
            continue
        for attr, label in Scores.METRICS:
            rates = [getattr(by_name[x].files[file_name].scores, attr) for x in names]
            if not rates[0].total:
                continue
            table_rows.append(
                [f"{file_name} ({n})", label]
                + [str(r) for r in rates]
                + ([_delta(*rates)] if len(names) == 2 else [])
            )
    lines += _table(header, table_rows, "ll" + "r" * (len(header) - 2))
    lines += [
        "",
        "False-fallback rate: core messages predicted `nlu_fallback` or `out_of_scope` "
        "(lower is better).",
        "",
    ]

    # ---- threshold
    lines += _threshold_section(results, mapping)

    # ---- per tag
    bitext = [f for f in file_names if f.startswith("bitext")]
    if bitext:
        lines += [
            "## Bitext accuracy per language-variation tag",
            "",
            "Right = the row's rule (core: accepted intent; unsupported: no transaction). "
            "A message counts for every letter in its tags.",
            "",
        ]
        header = ["tag", "meaning"] + [f"{f} {x}" for f in bitext for x in names]
        tags = sorted(
            {t for f in bitext for x in names for t in per_tag(by_name[x].files[f].outcomes)}
        )
        rows = []
        for tag in tags:
            cells = [tag, TAG_NAMES.get(tag, "")]
            for f in bitext:
                for x in names:
                    r = per_tag(by_name[x].files[f].outcomes).get(tag)
                    cells.append(str(r) if r else "–")
            rows.append(cells)
        lines += _table(header, rows, "ll" + "r" * (len(header) - 2)) + [""]

    # ---- confusions
    lines += [
        "## Costliest confusions",
        "",
        "Wrong predictions over all four benchmark files, by (source intent → predicted "
        "label); counts per pipeline. Chart: `confusions.png`.",
        "",
    ]
    pairs = confusion_table(results)
    lines += _table(
        ["source_intent → predicted", "kind"] + names,
        [
            [f"{s} → {p}", mapping[s].kind if s in mapping else ""]
            + [counts.get(x, 0) for x in names]
            for (s, p), counts in pairs
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

    # ---- timing
    lines += [
        "## Parse time per message",
        "",
        "`Agent.parse_message`, one message at a time, after one warm-up parse "
        f"(its time is listed separately). Machine: {os.cpu_count()} CPU cores, load "
        f"average {_load_average()} at the end of the run (other work on the machine "
        "slows the parses).",
        "",
    ]
    header = ["file"] + [f"{x} median / p95 (ms)" for x in names]
    rows = []
    for file_name in file_names:
        cells = [file_name]
        for x in names:
            median, p95 = by_name[x].files[file_name].timing
            cells.append(f"{median:.1f} / {p95:.1f}")
        rows.append(cells)
    rows.append(
        ["first parse after load"] + [f"{by_name[x].first_parse_seconds * 1000:.0f}" for x in names]
    )
    lines += _table(header, rows) + [""]
    return "\n".join(lines)


def _threshold_section(results: Sequence[PipelineResult], mapping: Mapping[str, Rule]) -> List[str]:
    ours = next((r for r in results if r.name == "ours"), results[0])
    curves = {r.name: r.curve(mapping) for r in results}
    chosen = choose_threshold(curves[ours.name], current=ours.threshold)
    current = (
        next(p for p in curves[ours.name] if abs(p.threshold - ours.threshold) < 1e-9)
        if any(abs(p.threshold - ours.threshold) < 1e-9 for p in curves[ours.name])
        else None
    )
    same, total = ours.curve_reproduces_live()
    lines = [
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
    if chosen is None:
        best = min(
            curves[ours.name],
            key=lambda p: (p.false_fallback.value or 0.0, -(p.oos_recall.value or 0.0)),
        )
        kinds = Counter(
            relabel(p.parse, best.threshold, ours.ambiguity_threshold)
            for p in ours.files["bitext_dev"].parsed
            if mapping[p.row.source_intent].kind == CORE
        )
        lines += [
            f"**No recommendation: no threshold keeps false fallbacks ≤ "
            f"{MAX_FALSE_FALLBACK:.0%} on Bitext dev** for `{ours.name}`. The fewest are at "
            f"{best.threshold:.2f}: {best.false_fallback}, out-of-scope recall "
            f"{best.oos_recall}. No threshold can remove them: {kinds['out_of_scope']} are "
            f"core messages classified `out_of_scope` and {kinds[FALLBACK]} fall back on "
            f"the ambiguity rule (runner-up within {ours.ambiguity_threshold:g}). Keep the "
            f"configured {ours.threshold:g} until the training data improves.",
            "",
        ]
    else:
        allowed = [
            p
            for p in curves[ours.name]
            if p.false_fallback.value is not None and p.false_fallback.value <= MAX_FALSE_FALLBACK
        ]
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
        over = [
            p
            for p in curves[ours.name]
            if p.threshold > chosen.threshold
            and p.false_fallback.value is not None
            and p.false_fallback.value > MAX_FALSE_FALLBACK
        ]
        if over:
            reason += (
                f"; the lowest higher threshold over the limit, {over[0].threshold:.2f}, "
                f"has {over[0].false_fallback} false fallbacks"
            )
        tied = [
            p.threshold
            for p in allowed
            if p.oos_recall.hits >= best.oos_recall.hits - RECALL_SLACK
            and p.threshold not in (chosen.threshold, best.threshold)
        ]
        if tied:
            reason += (
                f". Tied on out-of-scope recall as well: "
                f"{', '.join(f'{t:.2f}' for t in tied)}; ties go to fewer false "
                "fallbacks, then higher core accuracy, then the threshold closest to the "
                "configured one"
            )
        lines += [
            f"**Recommended threshold for `config.yml`: {chosen.threshold:.2f}** "
            f"(configured: {ours.threshold:g}). Why: {reason}."
        ]
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
            lines += ["", "`config.yml` uses it.", ""]
        else:
            lines += [
                "",
                "Not applied here: edit `config.yml` to adopt it. The figures above "
                "assume the rest of the model unchanged.",
                "",
            ]
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
                _pct(p.oos_recall.value),
                _pct(p.false_fallback.value),
                _pct(p.core_accuracy.value),
            ]
        rows.append(cells)
    lines += _table(header, rows) + ["", "![threshold curve](threshold.png)", ""]
    return lines


def held_out_check(result: PipelineResult, mapping: Mapping[str, Rule], threshold: float) -> str:
    """The chosen threshold on the test files (reported, not used to choose)."""
    if "clinc_test" not in result.files or "bitext_test" not in result.files:
        return ""
    test = threshold_curve(
        _pairs(result.files["clinc_test"]),
        _pairs(result.files["bitext_test"]),
        mapping,
        [threshold],
        result.ambiguity_threshold,
    )[0]
    return (
        f"Held-out check at {threshold:.2f} (test files, not used for the choice): "
        f"out-of-scope recall {test.oos_recall} on CLINC test, false fallbacks "
        f"{test.false_fallback} and core accuracy {test.core_accuracy} on Bitext test."
    )


def confusion_table(
    results: Sequence[PipelineResult], top: int = 12
) -> List[Tuple[Tuple[str, str], Dict[str, int]]]:
    """The union of each pipeline's top pairs over all benchmark files, with all counts."""
    counts: Dict[str, Dict[Tuple[str, str], int]] = {}
    for r in results:
        outcomes = [o for name, f in r.files.items() if name != OWN_TEST_NAME for o in f.outcomes]
        counts[r.name] = dict(confusions(outcomes))
    keys = []
    for r in results:
        for pair, _ in sorted(counts[r.name].items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
            if pair not in keys:
                keys.append(pair)
    first = results[0].name
    keys.sort(key=lambda pair: (-counts[first].get(pair, 0), pair))
    return [(pair, {name: c.get(pair, 0) for name, c in counts.items()}) for pair in keys]


def plot_threshold(
    results: Sequence[PipelineResult], mapping: Mapping[str, Rule], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    styles = {"ours": ("tab:blue", "-"), "baseline": ("tab:gray", "--")}
    for r in results:
        points = r.curve(mapping)
        color, line = styles.get(r.name, ("tab:green", ":"))
        xs = [p.false_fallback.value * 100 for p in points]
        ys = [p.oos_recall.value * 100 for p in points]
        ax.plot(xs, ys, line, marker=".", color=color, label=r.name)
        if r.name == "ours":  # one label per distinct point: the thresholds that land there
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
        current = [p for p in points if abs(p.threshold - r.threshold) < 1e-9]
        if current:
            ax.plot(
                [current[0].false_fallback.value * 100],
                [current[0].oos_recall.value * 100],
                marker="*",
                markersize=15,
                color=color,
                linestyle="none",
                label=f"{r.name}: configured {r.threshold:g}",
            )
        if r.name == "ours":
            chosen = choose_threshold(points, current=r.threshold)
            if chosen is not None:
                ax.plot(
                    [chosen.false_fallback.value * 100],
                    [chosen.oos_recall.value * 100],
                    marker="o",
                    markersize=12,
                    markerfacecolor="none",
                    color="tab:red",
                    linestyle="none",
                    label=f"recommended {chosen.threshold:.2f}",
                )
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusions(results: Sequence[PipelineResult], path: Path, top: int = 12) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    pairs = confusion_table(results, top)[: top + 4]
    fig, ax = plt.subplots(figsize=(9, 0.38 * max(len(pairs), 1) + 1.5))
    if not pairs:
        ax.text(0.5, 0.5, "no confusions", ha="center")
    else:
        labels = [f"{s} → {p}" for (s, p), _ in pairs][::-1]
        positions = np.arange(len(labels))
        height = 0.8 / len(results)
        colors = {"ours": "tab:blue", "baseline": "tab:gray"}
        for i, r in enumerate(results):  # the first pipeline's bar on top
            values = [counts.get(r.name, 0) for _, counts in pairs][::-1]
            ax.barh(
                positions + 0.4 - height / 2 - i * height,
                values,
                height,
                label=r.name,
                color=colors.get(r.name, None),
            )
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_yticks(positions)
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_xlabel("wrong messages (all four benchmark files)")
        ax.legend(fontsize=8)
    ax.set_title("Costliest confusions: source intent → predicted label")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- CLI


def _command(argv: Sequence[str]) -> str:
    try:
        python = os.path.relpath(sys.executable, Path.cwd())
    except ValueError:
        python = sys.executable
    if python.startswith(".."):
        python = "python"
    return " ".join([python, "-m", "bot.evaluation.benchmark", *map(shlex.quote, argv)]).strip()


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--benchmarks",
        type=Path,
        default=None,
        help="benchmarks directory (default: $BENCHMARKS_DIR or ../shared/benchmarks)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=None,
        help="at most N messages per file, stratified by intent (quick runs)",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument(
        "--pipelines",
        default="ours,baseline",
        help=f"comma-separated, from: {', '.join(PIPELINES)}",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="evaluate this model file for pipeline NAME instead of the one "
        "ensure_model trains for the current inputs (repeatable)",
    )
    args = parser.parse_args(argv)
    pinned: Dict[str, Path] = {}
    for item in args.model:
        name, _, path = item.partition("=")
        if name not in PIPELINES or not path or not Path(path).is_file():
            parser.error(
                f"--model {item}: expected NAME=PATH with NAME in "
                f"{', '.join(PIPELINES)} and an existing model file"
            )
        pinned[name] = Path(path)
    names = [n.strip() for n in args.pipelines.split(",") if n.strip()]
    unknown = [n for n in names if n not in PIPELINES]
    if unknown or not names:
        parser.error(f"unknown pipeline(s) {unknown}; choose from {', '.join(PIPELINES)}")
    benchmarks = args.benchmarks or default_benchmarks_dir()
    if not benchmarks.is_dir():
        parser.error(f"benchmarks directory {benchmarks} does not exist")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
    warnings.filterwarnings("ignore", message=".*deprecated - use")  # pyparsing, via matplotlib

    mapping = load_mapping(benchmarks / "mapping.tsv")
    inputs: Dict[str, List[Row]] = {
        name: stratified_sample(load_rows(benchmarks / f"{name}.tsv"), args.sample)
        for name in BENCHMARK_FILES
    }
    inputs[OWN_TEST_NAME] = stratified_sample(own_test_rows(), args.sample)

    results = []
    for name in names:
        result = run_pipeline(name, inputs, mapping, pinned.get(name))
        for file_name, file_result in result.files.items():
            print(f"[{name}] " + summary_line(file_name, file_result), flush=True)
        results.append(result)

    for result in results:  # inputs may have changed while the later models trained
        result.stale = model_freshness(result.model, result.config, PIPELINES[result.name][1])
    args.out.mkdir(parents=True, exist_ok=True)
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    markdown = render_markdown(
        results,
        mapping,
        command=_command(argv),
        benchmarks_dir=benchmarks,
        sample=args.sample,
        date=date,
    )
    (args.out / "nlu.md").write_text(markdown + "\n")
    plot_threshold(results, mapping, args.out / "threshold.png")
    plot_confusions(results, args.out / "confusions.png")
    print(f"wrote {args.out / 'nlu.md'}, threshold.png, confusions.png")


if __name__ == "__main__":
    main()
