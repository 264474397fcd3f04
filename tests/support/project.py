"""Copies of the bot project for tests that label, train, activate or serve.

Everything that writes project files works on a copy in a temporary directory,
never on the repository's data/ or models/.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import yaml

REPO = Path(__file__).resolve().parents[2]
# What a bot project is trained, evaluated and served from.
PROJECT_FILES = (
    "config.yml",
    "domain.yml",
    "endpoints.yml",
    "credentials.yml",
    "data",
    "tests/nlu/test_nlu.yml",
)


def copy_project(target: Path, *, link_build: bool = False, model: Optional[Path] = None) -> Path:
    """The repository's project files copied to ``target`` (over what is there already).

    ``link_build`` links ``build/`` (the spaCy pipeline config.yml names) instead of
    leaving it to be built again; ``model`` is copied into ``target/models/``.
    """
    for name in PROJECT_FILES:
        source, dest = REPO / name, target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest)
    build = target / "build"
    if link_build and not build.exists():
        build.symlink_to((REPO / "build").resolve(), target_is_directory=True)
    if model is not None:
        (target / "models").mkdir(exist_ok=True)
        shutil.copy2(model, target / "models" / model.name)
    return target


# ---- training configs that train fast ---------------------------------------------------------

# One epoch per component, no spaCy: a training of the real data in about a minute.
TINY_CONFIG = """\
recipe: default.v1
language: en
assistant_id: retraining-test
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
    epochs: {epochs}
    number_of_transformer_layers: 0
    entity_recognition: false
    random_seed: 42
  - name: ResponseSelector
    retrieval_intent: faq
    epochs: 1
    random_seed: 42
  - name: FallbackClassifier
    threshold: 0.3
policies:
  - name: RulePolicy
  - name: TEDPolicy
    max_history: 3
    epochs: 1
    random_seed: 42
"""


def write_tiny_config(project: Path, name: str = "tiny_config.yml", epochs: int = 1) -> str:
    (project / name).write_text(TINY_CONFIG.format(epochs=epochs))
    return name


def write_one_epoch_config(project: Path, name: str = "config-one-epoch.yml") -> str:
    """The project's own config.yml with every trained component cut to one epoch."""
    config = yaml.safe_load((project / "config.yml").read_text())
    for component in config["pipeline"] + config["policies"]:
        if "epochs" in component:
            component["epochs"] = 1
    (project / name).write_text(yaml.safe_dump(config, sort_keys=False))
    return name
