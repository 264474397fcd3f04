"""Models on disk, activation on a real Rasa server (``PUT /model``), refusal of worse models,
rollback.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.devtools.stack import StackSettings, process
from bot.nlu.training import train
from bot.retraining import keys
from bot.retraining.comparison import build_comparison
from bot.retraining.errors import (
    ModelNotFound,
    ModelWorse,
    NotEvaluated,
    NothingToRollBack,
    RasaUnavailable,
)
from bot.retraining.model_registry import ModelRegistry
from tests.support.project import copy_project, write_tiny_config
from tests.support.redis_server import free_port

TOKEN = "test-token"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """One tiny model trained for this module (about a minute)."""
    project = copy_project(tmp_path_factory.mktemp("models-project"))
    config = write_tiny_config(project)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false"}
    return train(
        project,
        config,
        Path("models"),
        "storefront-first",
        env=env,
        capture_output=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def rasa(tiny_model, tmp_path_factory):
    """A real ``rasa run --enable-api`` serving the tiny model."""
    workdir = tmp_path_factory.mktemp("rasa")
    settings = StackSettings(
        project_dir=tiny_model.parent.parent,
        rasa_port=free_port(),
        log_dir=workdir / "log",
        rasa_token=TOKEN,
    )
    command = [
        sys.executable,
        "-m",
        "rasa",
        "run",
        "--model",
        str(tiny_model),
        "--port",
        str(settings.rasa_port),
        "--enable-api",
        "--auth-token",
        TOKEN,
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false"}
    with process(
        "rasa", command, env, settings, f"{settings.rasa_url}/status?token={TOKEN}", timeout=300
    ):
        yield settings.rasa_url


@pytest.fixture
def models(project, tiny_model, retraining_config, rasa):
    """The project's models/ with two copies of the tiny model, and a config pointing at Rasa."""
    folder = project / "models"
    folder.mkdir()
    for name in ("storefront-first.tar.gz", "storefront-second.tar.gz"):
        shutil.copy2(tiny_model, folder / name)
    return replace(retraining_config, rasa_urls=(rasa,), rasa_token=TOKEN)


def _comparison(candidate: str, verdict: str):
    good, bad = [("a", "a")], [("a", "b")]
    new, old = {"better": (good, bad), "worse": (bad, good), "not_worse": (good, good)}[verdict]
    comparison = build_comparison(
        candidate,
        "storefront-first.tar.gz",
        {"test_set": {"candidate": new, "running": old}},
        {"test_set": "tests/nlu/test_nlu.yml"},
    )
    assert comparison.verdict == verdict
    return comparison


async def test_activate_refuses_worse_models_and_rollback_goes_back(redis_client, models):
    registry = ModelRegistry(redis_client, models)
    # Rasa runs the module's model from another folder: the registry finds what it runs by name.
    await registry.activate("storefront-first.tar.gz", by="admin", override=True)
    assert (await registry.running()) == {models.rasa_urls[0]: "storefront-first.tar.gz"}

    with pytest.raises(NotEvaluated):
        await registry.activate("storefront-second.tar.gz", by="admin")
    await registry.save_comparison(_comparison("storefront-second.tar.gz", "worse"))
    with pytest.raises(ModelWorse, match="fell"):
        await registry.activate("storefront-second.tar.gz", by="admin")
    assert (await registry.running())[models.rasa_urls[0]] == "storefront-first.tar.gz"

    await registry.save_comparison(_comparison("storefront-second.tar.gz", "better"))
    activation = await registry.activate("storefront-second.tar.gz", by="admin")
    assert activation.previous == "storefront-first.tar.gz" and activation.servers == list(
        models.rasa_urls
    )
    listed = {m.name: m for m in await registry.list()}
    assert listed["storefront-second.tar.gz"].active_on == list(models.rasa_urls)
    assert listed["storefront-second.tar.gz"].evaluation["verdict"] == "better"
    assert listed["storefront-first.tar.gz"].active_on == []

    back = await registry.rollback(by="admin")
    assert back.model == "storefront-first.tar.gz" and back.rollback
    assert (await registry.running())[models.rasa_urls[0]] == "storefront-first.tar.gz"
    with pytest.raises(NothingToRollBack):
        await registry.rollback(by="admin")
    history = [json.loads(h) for h in await redis_client.lrange(keys.ACTIVATIONS, 0, -1)]
    assert [(h["model"], h["rollback"]) for h in history] == [
        ("storefront-first.tar.gz", False),
        ("storefront-second.tar.gz", False),
        ("storefront-first.tar.gz", True),
    ]


async def test_an_unreachable_server_is_reported_and_nothing_is_recorded(redis_client, models):
    config = replace(models, rasa_urls=(f"http://127.0.0.1:{free_port()}",))
    registry = ModelRegistry(redis_client, config)
    with pytest.raises(RasaUnavailable):
        await registry.activate("storefront-second.tar.gz", override=True)
    assert await redis_client.llen(keys.ACTIVATIONS) == 0


async def test_a_server_refusing_a_broken_model_is_reported(redis_client, models, project):
    (project / "models" / "storefront-broken.tar.gz").write_bytes(b"not a model")
    registry = ModelRegistry(redis_client, models)
    with pytest.raises(RasaUnavailable, match="refused"):
        await registry.activate("storefront-broken.tar.gz", override=True)
    assert (await registry.running())[models.rasa_urls[0]] != "storefront-broken.tar.gz"


@pytest.mark.parametrize("name", ["../secret.tar.gz", "/etc/passwd", "nothing.tar.gz", "x.zip"])
async def test_unknown_or_unsafe_names_are_refused(redis_client, retraining_config, name):
    with pytest.raises(ModelNotFound):
        await ModelRegistry(redis_client, retraining_config).activate(name, override=True)


async def test_prune_keeps_the_newest_and_the_protected(redis_client, retraining_config, project):
    folder = project / "models"
    folder.mkdir()
    for n in range(5):
        path = folder / f"storefront-{n}.tar.gz"
        path.write_bytes(b"x")
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))
    registry = ModelRegistry(redis_client, replace(retraining_config, keep_models=2))
    removed = registry.prune(protect=("storefront-0.tar.gz",))
    assert sorted(removed) == ["storefront-1.tar.gz", "storefront-2.tar.gz"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "storefront-0.tar.gz",
        "storefront-3.tar.gz",
        "storefront-4.tar.gz",
    ]
