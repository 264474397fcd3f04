"""The same pipeline trained with other DIET seeds: the configs, and the figures over seeds.

The seed alone moves the dev figures by points (config.yml's comment on DIET's random_seed), so
one model's figure is one draw. Each extra seed is config.yml with only DIETClassifier's
``random_seed`` replaced, written under ``build/eval/`` so that ``ensure_model`` fingerprints and
caches it like any other config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from bot.evaluation.calibration import expected_calibration_error, mean_spread
from bot.evaluation.datasets import OWN_TEST_NAME, Rule
from bot.evaluation.results import PipelineResult, calibration_points
from bot.evaluation.scoring import accuracy

EXTRA_SEEDS: Tuple[int, ...] = (13, 42)  # with config.yml's own seed: 3 seeds
CONFIG_DIR = Path("build/eval")


def diet_seed(config: Mapping[str, Any]) -> Optional[int]:
    """DIETClassifier's random_seed in a parsed Rasa config (None if unset)."""
    for component in config.get("pipeline") or []:
        if component.get("name") == "DIETClassifier":
            return component.get("random_seed")
    raise ValueError("the config has no DIETClassifier")


def with_diet_seed(config: Mapping[str, Any], seed: int) -> Dict[str, Any]:
    """A copy of a parsed Rasa config with DIETClassifier's random_seed replaced."""
    diet_seed(config)  # raises if there is no DIET
    pipeline = [
        {**c, "random_seed": seed} if c.get("name") == "DIETClassifier" else dict(c)
        for c in config.get("pipeline") or []
    ]
    return {**config, "pipeline": pipeline}


def write_seed_config(config_path: Path, seed: int, out_dir: Path = CONFIG_DIR) -> Path:
    """config.yml with another DIET seed, as a file under ``out_dir`` (relative paths kept)."""
    import yaml

    config = yaml.safe_load(config_path.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{config_path.stem}-seed{seed}.yml"
    text = yaml.safe_dump(with_diet_seed(config, seed), sort_keys=False)
    if not path.is_file() or path.read_text() != text:  # same bytes, same fingerprint
        path.write_text(text)
    return path


# --------------------------------------------------------------------------- figures

Figure = Callable[[PipelineResult, Mapping[str, Rule]], Optional[float]]


def _score(file_name: str, attr: str) -> Figure:
    def figure(r: PipelineResult, mapping: Mapping[str, Rule]) -> Optional[float]:
        f = r.files.get(file_name)
        return getattr(f.scores, attr).value if f is not None else None

    return figure


def _own(r: PipelineResult, mapping: Mapping[str, Rule]) -> Optional[float]:
    f = r.files.get(OWN_TEST_NAME)
    return accuracy(f.report.pairs).value if f is not None else None


def _ece(file_name: str) -> Figure:
    def figure(r: PipelineResult, mapping: Mapping[str, Rule]) -> Optional[float]:
        f = r.files.get(file_name)
        return expected_calibration_error(calibration_points(f, mapping)) if f else None

    return figure


def figures(file_names: Sequence[str]) -> List[Tuple[str, Figure]]:
    """The figures reported over seeds: the issue's targets and the ECE of every file."""
    named: List[Tuple[str, Figure]] = []
    for name in file_names:
        if name.startswith("bitext"):
            named.append((f"{name} core accuracy", _score(name, "core_accuracy")))
        if name.startswith("clinc"):
            named.append((f"{name} out-of-scope recall", _score(name, "oos_recall")))
    for name in file_names:
        if name.startswith("bitext"):
            named.append((f"{name} false-fallback rate", _score(name, "false_fallback")))
    if OWN_TEST_NAME in file_names:
        named.append((f"{OWN_TEST_NAME} intent accuracy", _own))
    named += [(f"{name} ECE", _ece(name)) for name in file_names]
    return named


def seed_table(
    results: Sequence[PipelineResult], mapping: Mapping[str, Rule]
) -> List[Tuple[str, List[Optional[float]], Optional[Tuple[float, float]]]]:
    """(figure, value per seed, mean ± spread) for every figure of the seeds' files."""
    rows = []
    for label, figure in figures(list(results[0].files)):
        values = [figure(r, mapping) for r in results]
        known = [v for v in values if v is not None]
        rows.append((label, values, mean_spread(known) if known else None))
    return rows
