"""Train the Rasa model only when its inputs changed, with a cache shared across clones.

Training takes minutes; the inputs (config, domain, data, spaCy pipeline,
Rasa version) change rarely. The model is named after a hash of those inputs
and kept in a user-level cache, so a fresh clone on the same machine (CI,
a second checkout) copies it instead of training again.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List, Optional

from bot.nlu import spacy_pipeline

MODEL_INPUTS = ("config.yml", "domain.yml", "data")
MODELS_DIR = Path("models")


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
    filename = f"{name}-{fingerprint}.tar.gz"
    target = project_dir / MODELS_DIR / filename
    cached = cache_dir() / filename
    if target.exists():
        print(f"model up to date: {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if cached.exists():
        shutil.copy2(cached, target)
        print(f"model restored from cache: {target}")
        return target
    _train(project_dir, config, target, nlu_only)
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(target, cached)
    return target


def _train(project_dir: Path, config: str, target: Path, nlu_only: bool = False) -> None:
    print(f"training {target.name} (this takes a few minutes)...", flush=True)
    what = ["nlu", "--nlu", "data"] if nlu_only else ["--data", "data", "--force"]
    command = [
        sys.executable,
        "-m",
        "rasa",
        "train",
        *what,
        "--config",
        config,
        "--domain",
        "domain.yml",
        "--out",
        str(target.parent),
        "--fixed-model-name",
        target.name[: -len(".tar.gz")],
    ]
    subprocess.run(command, cwd=project_dir, check=True)
    if not target.exists():
        raise RuntimeError(f"rasa train finished but {target} is missing")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Train the bot's model if its inputs changed.")
    parser.add_argument("--config", default="config.yml")
    parser.add_argument("--name", default="storefront")
    parser.add_argument("--nlu-only", action="store_true", help="train the NLU pipeline alone")
    args = parser.parse_args(argv)
    print(ensure_model(Path("."), args.config, args.name, args.nlu_only))


if __name__ == "__main__":
    main()
