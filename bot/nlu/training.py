"""Train the Rasa model only when its inputs changed, with a cache shared across clones.

Training takes minutes; the inputs (config, domain, data, spaCy pipeline,
Rasa version) change rarely. The model is named after a hash of those inputs
and kept in a user-level cache, so a fresh clone on the same machine (CI,
a second checkout) copies it instead of training again.

This module is the one place that knows how to invoke ``rasa train``:
:func:`train_command` builds the command line, :func:`train` runs it (``ensure_model``, the
tests), and the retraining jobs (:mod:`bot.retraining.jobs`) run the same command themselves to
stream its progress.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, List, Optional

from bot.nlu import spacy_pipeline

MODEL_INPUTS = ("config.yml", "domain.yml", "data")
MODELS_DIR = Path("models")
MODEL_SUFFIX = ".tar.gz"


def cache_dir() -> Path:
    """Where trained models are kept across clones (``STOREBOT_CACHE_DIR`` overrides)."""
    default = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "storefront-support-bot"
    )
    return Path(os.environ.get("STOREBOT_CACHE_DIR", default)) / "models"


def input_files(project_dir: Path, inputs: Iterable[str] = MODEL_INPUTS) -> List[Path]:
    """Every file whose content shapes the model, in a stable order."""
    files: List[Path] = []
    for name in inputs:
        path = project_dir / name
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return files


def model_fingerprint(project_dir: Path, config: str = "config.yml") -> str:
    """Hash of the model's inputs: same hash, same model."""
    import rasa

    digest = hashlib.sha256()
    digest.update(f"rasa={rasa.__version__};spacy={spacy_pipeline.fingerprint()}".encode())
    for path in input_files(project_dir, (config,) + MODEL_INPUTS[1:]):
        digest.update(str(path.relative_to(project_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def ensure_model(
    project_dir: Path = Path("."),
    config: str = "config.yml",
    name: str = "storefront",
    nlu_only: bool = False,
) -> Path:
    """Return the path of an up-to-date model, training it only when needed.

    ``nlu_only`` trains the NLU pipeline alone (``rasa train nlu``): enough for a model that is
    only asked to parse messages, such as the benchmark's baseline.
    """
    spacy_pipeline.ensure_built(project_dir / spacy_pipeline.DEFAULT_OUTPUT)
    fingerprint = model_fingerprint(project_dir, config)
    stem = f"{name}-{fingerprint}"
    target = model_file(project_dir / MODELS_DIR, stem)
    cached = cache_dir() / target.name
    if target.exists():
        print(f"model up to date: {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if cached.exists():
        shutil.copy2(cached, target)
        print(f"model restored from cache: {target}")
        return target
    print(f"training {target.name} (this takes a few minutes)...", flush=True)
    train(project_dir, config, MODELS_DIR, stem, nlu_only=nlu_only)
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(target, cached)
    return target


def model_file(out: Path, name: str) -> Path:
    """Where ``rasa train --out <out> --fixed-model-name <name>`` puts the model."""
    return out / f"{name}{MODEL_SUFFIX}"


def train_command(
    config: str,
    out: Path,
    name: str,
    *,
    nlu_only: bool = False,
    domain: str = "domain.yml",
    data: str = "data",
    finetune: Optional[Path] = None,
    epoch_fraction: float = 1.0,
) -> List[str]:
    """The ``rasa train`` command line: the model ``<out>/<name>.tar.gz`` from ``config``.

    Relative paths are from the project directory it runs in. ``nlu_only`` trains the
    NLU pipeline alone (``rasa train nlu``); otherwise the whole model, even when Rasa thinks
    an older model in ``out`` would do (``--force``).

    ``finetune`` continues training the weights of that model for ``epoch_fraction`` of the
    configured epochs (``--finetune``, Rasa's incremental training). ``--force`` stays: when
    finetuning, Rasa's training cache keys a component on its config and inputs but not on the
    model it starts from, so a cached component could come from another base model.
    """
    what = ["nlu", "--nlu", data] if nlu_only else ["--data", data, "--force"]
    if finetune is not None:
        what += ["--finetune", str(finetune), "--epoch-fraction", str(epoch_fraction)]
    return [
        sys.executable,
        "-m",
        "rasa",
        "train",
        *what,
        "--config",
        config,
        "--domain",
        domain,
        "--out",
        str(out),
        "--fixed-model-name",
        name,
    ]


def train(
    project_dir: Path,
    config: str,
    out: Path,
    name: str,
    *,
    nlu_only: bool = False,
    **run_options: Any,
) -> Path:
    """Run ``rasa train`` in ``project_dir`` and return the model file it wrote.

    ``out`` is relative to ``project_dir`` (or absolute); ``run_options`` go to
    :func:`subprocess.run` (``env``, ``capture_output``, ``timeout``...).

    Raises:
        subprocess.CalledProcessError: rasa train failed.
        RuntimeError: it finished without writing the model.
    """
    command = train_command(config, out, name, nlu_only=nlu_only)
    subprocess.run(command, cwd=project_dir, check=True, **run_options)
    model = model_file(Path(project_dir) / out, name)
    if not model.exists():
        raise RuntimeError(f"rasa train finished but {model} is missing")
    return model


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Train the bot's model if its inputs changed.")
    parser.add_argument("--config", default="config.yml")
    parser.add_argument("--name", default="storefront")
    parser.add_argument("--nlu-only", action="store_true", help="train the NLU pipeline alone")
    args = parser.parse_args(argv)
    print(ensure_model(Path("."), args.config, args.name, args.nlu_only))


if __name__ == "__main__":
    main()
