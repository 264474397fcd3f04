"""Score the bot's NLU on public customer-service benchmarks, next to Rasa's default pipeline.

    python -m bot.evaluation.benchmark [--benchmarks DIR] [--sample N] [--out docs/benchmarks]
                            [--pipelines ours,baseline] [--seeds 13,42] [--model NAME=PATH ...]

For each pipeline (``ours`` = config.yml, ``baseline`` = bot/evaluation/baseline_config.yml, both
trained on our own domain and data by ``bot.nlu.training.ensure_model``) the model is loaded once
and every benchmark file (Bitext and CLINC150 dev/test, see ``$BENCHMARKS_DIR/README.md``) plus the
project's own NLU test set is parsed. ``--model`` evaluates a given model file instead (e.g. an
older one); the report flags a model not trained on the current inputs. Written to ``--out``:
``nlu.md`` (the figures), ``threshold.png`` (out-of-scope recall against false fallbacks for
every fallback threshold, recomputed from the stored intent rankings: no retraining),
``confusions.png`` and ``reliability.png`` (confidence against accuracy, see
:mod:`bot.evaluation.calibration`). The first pipeline is also trained with each ``--seeds``
DIET seed (configs derived from its own, :mod:`bot.evaluation.seeds`, NLU-only) and the report
gives every target figure and the ECE as mean ± spread over its seeds.

The benchmark texts are read here at evaluation time only; they never go into training data.
Tune on the ``*_dev`` files only (the threshold choice uses dev only).

This module is the run and the CLI. The rest of :mod:`bot.evaluation`: ``datasets`` (the files),
``scoring`` (the one scorer), ``rules`` (mapping.tsv's rules), ``threshold`` (the fallback
threshold curve and choice), ``parsing`` (a loaded Agent), ``results``, ``report`` and
``threshold_report`` (the Markdown), ``plots`` (the charts).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from bot.evaluation.datasets import (
    BENCHMARK_FILES,
    OWN_TEST_NAME,
    Row,
    Rule,
    default_benchmarks_dir,
    load_mapping,
    load_rows,
    own_test_rows,
    stratified_sample,
)
from bot.evaluation.parsing import evaluate_benchmark, evaluate_own_test_set, parse_timed
from bot.evaluation.plots import plot_confusions, plot_reliability, plot_threshold
from bot.evaluation.report import render_markdown, summary_line
from bot.evaluation.results import FileResult, PipelineResult
from bot.evaluation.seeds import EXTRA_SEEDS, diet_seed, write_seed_config

# name -> (config, model name given to ensure_model). The baseline is only ever parsed here, so
# it is trained NLU-only: its dialogue policies would add half an hour of training for nothing.
PIPELINES: Dict[str, Tuple[str, str]] = {
    "ours": ("config.yml", "storefront"),
    "baseline": ("bot/evaluation/baseline_config.yml", "baseline-nlu"),
}
NLU_ONLY = frozenset({"baseline"})


# --------------------------------------------------------------------------- the models


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


def _load_agent(model: Path) -> Tuple[Any, float, float]:
    """The loaded model, the seconds loading took and those of the first parse."""
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    logging.getLogger("rasa").setLevel(logging.WARNING)
    configure_structlog(logging.WARNING)  # else every parse is printed at debug level
    started = time.perf_counter()
    agent = Agent.load(str(model))
    load_seconds = time.perf_counter() - started
    # The first parse builds the TensorFlow graphs; keep it out of the per-message timings.
    _, first_parse = asyncio.run(parse_timed(agent, "hello"))
    return agent, load_seconds, first_parse


# --------------------------------------------------------------------------- the run


def run_pipeline(
    name: str,
    inputs: Mapping[str, Sequence[Row]],
    mapping: Mapping[str, Rule],
    model: Optional[Path] = None,
    seed: Optional[int] = None,
) -> PipelineResult:
    """Load the pipeline's model once and parse every input file.

    ``model`` pins a model file; by default ``ensure_model`` returns the one trained on the
    current inputs (training it first if they changed). ``seed`` evaluates the pipeline's config
    with another DIET random_seed (trained NLU-only: only the parses are read).
    """
    from bot.nlu.training import ensure_model

    config, model_name = PIPELINES[name]
    nlu_only = name in NLU_ONLY
    if seed is not None:
        config, model_name, nlu_only = (
            str(write_seed_config(Path(config), seed)),
            f"eval-{name}-seed{seed}",
            True,
        )
    if model is None:
        # trains only if the inputs changed
        model = ensure_model(Path("."), config, model_name, nlu_only=nlu_only)
    stale = model_freshness(model, config, model_name)
    agent, load_seconds, first_parse = _load_agent(model)
    threshold, ambiguity = model_fallback_settings(agent) or fallback_settings(Path(config))
    files: Dict[str, FileResult] = {}
    for file_name, rows in inputs.items():
        print(f"[{name}] {file_name}: parsing {len(rows)} messages", flush=True)
        if file_name == OWN_TEST_NAME:
            files[file_name] = evaluate_own_test_set(agent, rows)
        else:
            files[file_name] = evaluate_benchmark(agent, file_name, rows, mapping)
    return PipelineResult(
        name, config, model, load_seconds, first_parse, threshold, ambiguity, files, stale, seed
    )


def run_seeds(
    name: str,
    configured: PipelineResult,
    inputs: Mapping[str, Sequence[Row]],
    mapping: Mapping[str, Rule],
    seeds: Sequence[int] = EXTRA_SEEDS,
) -> List[PipelineResult]:
    """The configured model and the same config with each other DIET seed."""
    import yaml

    configured.seed = diet_seed(yaml.safe_load(Path(configured.config).read_text()))
    results = [configured]
    for seed in seeds:
        if seed == configured.seed:
            continue
        result = run_pipeline(name, inputs, mapping, seed=seed)
        for file_name, file_result in result.files.items():
            print(f"[{name} seed {seed}] " + summary_line(file_name, file_result), flush=True)
        results.append(result)
    return results


def load_inputs(benchmarks: Path, sample: Optional[int]) -> Dict[str, List[Row]]:
    """Every benchmark file and the own test set, sampled to ``sample`` messages each."""
    inputs: Dict[str, List[Row]] = {
        name: stratified_sample(load_rows(benchmarks / f"{name}.tsv"), sample)
        for name in BENCHMARK_FILES
    }
    inputs[OWN_TEST_NAME] = stratified_sample(own_test_rows(), sample)
    return inputs


def write_report(
    results: Sequence[PipelineResult],
    mapping: Mapping[str, Rule],
    out: Path,
    *,
    command: str,
    benchmarks: Path,
    sample: Optional[int],
    seeds: Sequence[PipelineResult] = (),
) -> None:
    """nlu.md, threshold.png, confusions.png and reliability.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    markdown = render_markdown(
        results,
        mapping,
        command=command,
        benchmarks_dir=benchmarks,
        sample=sample,
        date=date,
        seeds=seeds,
    )
    (out / "nlu.md").write_text(markdown + "\n")
    plot_threshold(results, mapping, out / "threshold.png")
    plot_confusions(results, out / "confusions.png")
    plot_reliability(results[0], mapping, out / "reliability.png")
    print(f"wrote {out / 'nlu.md'}, threshold.png, confusions.png, reliability.png")


# --------------------------------------------------------------------------- CLI


def _command(argv: Sequence[str]) -> str:
    try:
        python = os.path.relpath(sys.executable, Path.cwd())
    except ValueError:
        python = sys.executable
    if python.startswith(".."):
        python = "python"
    return " ".join([python, "-m", "bot.evaluation.benchmark", *map(shlex.quote, argv)]).strip()


def _parser() -> argparse.ArgumentParser:
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
        "--seeds",
        default=",".join(map(str, EXTRA_SEEDS)),
        help="comma-separated extra DIET seeds for the first pipeline (each trains an NLU "
        "model once; '' for none)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="evaluate this model file for pipeline NAME instead of the one "
        "ensure_model trains for the current inputs (repeatable)",
    )
    return parser


def _pinned_models(parser: argparse.ArgumentParser, items: Sequence[str]) -> Dict[str, Path]:
    pinned: Dict[str, Path] = {}
    for item in items:
        name, _, path = item.partition("=")
        if name not in PIPELINES or not path or not Path(path).is_file():
            parser.error(
                f"--model {item}: expected NAME=PATH with NAME in "
                f"{', '.join(PIPELINES)} and an existing model file"
            )
        pinned[name] = Path(path)
    return pinned


def _pipeline_names(parser: argparse.ArgumentParser, pipelines: str) -> List[str]:
    names = [n.strip() for n in pipelines.split(",") if n.strip()]
    unknown = [n for n in names if n not in PIPELINES]
    if unknown or not names:
        parser.error(f"unknown pipeline(s) {unknown}; choose from {', '.join(PIPELINES)}")
    return names


def _quiet() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
    warnings.filterwarnings("ignore", message=".*deprecated - use")  # pyparsing, via matplotlib


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    pinned = _pinned_models(parser, args.model)
    names = _pipeline_names(parser, args.pipelines)
    benchmarks = args.benchmarks or default_benchmarks_dir()
    if not benchmarks.is_dir():
        parser.error(f"benchmarks directory {benchmarks} does not exist")
    _quiet()

    mapping = load_mapping(benchmarks / "mapping.tsv")
    inputs = load_inputs(benchmarks, args.sample)
    results = []
    for name in names:
        result = run_pipeline(name, inputs, mapping, pinned.get(name))
        for file_name, file_result in result.files.items():
            print(f"[{name}] " + summary_line(file_name, file_result), flush=True)
        results.append(result)

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    seed_results = run_seeds(names[0], results[0], inputs, mapping, seeds) if seeds else []

    for result in results:  # inputs may have changed while the later models trained
        result.stale = model_freshness(result.model, result.config, PIPELINES[result.name][1])
    write_report(
        results,
        mapping,
        args.out,
        command=_command(argv),
        benchmarks=benchmarks,
        sample=args.sample,
        seeds=seed_results,
    )


if __name__ == "__main__":
    main()
