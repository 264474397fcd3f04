"""Training is reproducible on a machine: the same inputs give the same NLU weights, byte for byte.

The training cache (one model per hash of the inputs) and docs/benchmarks/nlu.md (figures of
the model CI tests) both rely on it. Rasa seeds TensorFlow from each component's random_seed;
this checks that nothing else (thread scheduling, set order) leaks into the weights.
"""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path
from typing import Dict

import pytest

from bot.nlu.training import ensure_model, model_file, train_command
from tests.support.project import copy_project, write_one_epoch_config


def _members(model: Path) -> Dict[str, str]:
    with tarfile.open(model) as archive:
        return {
            member.name: hashlib.sha256(archive.extractfile(member).read()).hexdigest()
            for member in archive.getmembers()
            if member.isfile()
        }


@pytest.mark.slow  # trains a model or runs Rasa in a subprocess
def test_two_trainings_of_the_same_inputs_give_the_same_weights(tmp_path, monkeypatch):
    models = []
    for run in ("first", "second"):
        project = copy_project(tmp_path / run)
        config = write_one_epoch_config(project)
        monkeypatch.setenv("STOREBOT_CACHE_DIR", str(tmp_path / run / "cache"))  # no reuse
        models.append(ensure_model(project, config, "one-epoch", nlu_only=True))
    first, second = map(_members, models)
    assert first.keys() == second.keys()
    # metadata.json holds the training date; everything else is the model.
    assert [name for name in first if first[name] != second[name]] == ["metadata.json"]


def test_the_one_rasa_train_command_line():
    full = train_command("config.yml", Path("models"), "storefront-abc")
    assert full[1:4] == ["-m", "rasa", "train"] and full[4:7] == ["--data", "data", "--force"]
    assert full[full.index("--out") + 1] == "models"
    assert full[full.index("--fixed-model-name") + 1] == "storefront-abc"
    nlu = train_command("c.yml", Path("/tmp/out"), "baseline", nlu_only=True)
    assert nlu[3:7] == ["train", "nlu", "--nlu", "data"] and "--force" not in nlu
    assert nlu[nlu.index("--config") + 1] == "c.yml"
    assert model_file(Path("/tmp/out"), "baseline") == Path("/tmp/out/baseline.tar.gz")
