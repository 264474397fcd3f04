"""Fixtures for the retraining tests: a copy of the bot project, Redis clients, logged trackers.

Everything that writes project files works on ``project`` (a copy in tmp_path),
never on the repository's data/. Trackers are written in exactly the format
Rasa's RedisTrackerStore uses (``rasa:tracker:<sender>``, JSON dialogue).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml

from handoff.core.settings import RetrainingConfig
from tests.support.redis_server import async_client

REPO = Path(__file__).resolve().parents[3]
PROJECT_FILES = ("domain.yml", "config.yml", "data", "tests/nlu/test_nlu.yml")

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


def copy_project(target: Path) -> Path:
    """The bot project's training inputs, copied to ``target``."""
    for name in PROJECT_FILES:
        source, dest = REPO / name, target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest)
        else:
            shutil.copy2(source, dest)
    return target


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


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture
def retraining_config(project) -> RetrainingConfig:
    return RetrainingConfig(project_dir=project, rasa_urls=(), tracker_key_prefix="rasa")


@pytest.fixture
async def aredis(redis_db):
    async with async_client(redis_db) as client:
        yield client


# ---- trackers as Rasa logs them ---------------------------------------------------------


def user(
    text: str,
    intent: str,
    confidence: float,
    at: float,
    ranking: Optional[List[Dict[str, Any]]] = None,
    **parse: Any,
) -> Dict[str, Any]:
    """A ``user`` event with parse data like Rasa's (fallback hides the real intent)."""
    return {
        "event": "user",
        "timestamp": at,
        "text": text,
        "input_channel": "widget",
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
            "entities": [],
            **parse,
        },
        "metadata": {},
    }


def bot(text: str, at: float, agent: Optional[str] = None) -> Dict[str, Any]:
    return {
        "event": "bot",
        "timestamp": at,
        "text": text,
        "metadata": {"agent": agent} if agent else {},
    }


def action(name: str, at: float) -> Dict[str, Any]:
    return {"event": "action", "timestamp": at, "name": name}


def pause(at: float) -> Dict[str, Any]:
    return {"event": "pause", "timestamp": at}


async def save_tracker(
    redis, sender: str, events: List[Dict[str, Any]], key_prefix: str = "rasa"
) -> None:
    """Store a tracker the way RedisTrackerStore does (key and JSON dialogue)."""
    await redis.set(
        f"{key_prefix}:tracker:{sender}", json.dumps({"name": sender, "events": events})
    )


def now() -> float:
    return time.time()
