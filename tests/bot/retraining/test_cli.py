"""``python -m bot.retraining`` in a real subprocess, and the ``retraining:`` settings it reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

from handoff.core.errors import ConfigError
from handoff.core.settings import REPO_ROOT, load_config
from tests.support.fake_rasa import TOKEN, FakeRasa
from tests.support.project import write_tiny_config
from tests.support.redis_server import free_port
from tests.support.trackers import save_tracker, user

T0 = 1_760_000_000.0


def run_cli(
    redis_url: str,
    project: Path,
    *args: str,
    settings: Path = None,
    env: Optional[Dict[str, str]] = None,
    timeout: int = 120,
):
    command = [
        sys.executable,
        "-m",
        "bot.retraining",
        "--redis-url",
        redis_url,
        "--project-dir",
        str(project),
        "--by",
        "ops",
        *args,
    ]
    environment = {
        "PATH": "/usr/bin:/bin",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",
        "HANDOFF_CONFIG": str(settings or REPO_ROOT / "handoff.yml"),
        "HOME": str(project),
        **(env or {}),
    }
    return subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=timeout
    )


async def test_review_label_and_faq_from_the_command_line(redis_db, redis_client, project):
    await save_tracker(
        redis_client,
        "c1",
        [
            user("wheres my parcel at", "order_status", 0.3, T0),
            user("wheres my parcel at", "order_status", 0.35, T0 + 1),
        ],
    )
    listed = run_cli(redis_db, project, "review", "--json")
    assert listed.returncode == 0, listed.stderr
    [item] = json.loads(listed.stdout)
    assert item["count"] == 2 and item["predicted_intent"] == "order_status"

    table = run_cli(redis_db, project, "review")
    assert item["id"] in table.stdout and "x2" in table.stdout

    labelled = run_cli(
        redis_db, project, "label", item["id"], "relabel", "--intent", "refund_status"
    )
    assert labelled.returncode == 0, labelled.stderr
    assert "refund_status" in labelled.stdout
    assert "wheres my parcel at" in (project / "data/nlu/reviewed.yml").read_text()
    assert run_cli(redis_db, project, "review").stdout.strip() == "nothing to review"

    added = run_cli(
        redis_db,
        project,
        "faq",
        "gift_wrap",
        "--example",
        "do you gift wrap",
        "--example",
        "can you wrap it as a present",
        "--answer",
        "Yes, for $5.",
    )
    assert added.returncode == 0, added.stderr
    assert "faq/gift_wrap" in run_cli(redis_db, project, "intents").stdout


async def test_bad_input_exits_with_a_clear_message(redis_db, redis_client, project):
    result = run_cli(redis_db, project, "label", "nope", "relabel", "--intent", "x")
    assert result.returncode == 1 and "no review item" in result.stderr
    result = run_cli(redis_db, project, "faq", "Bad Topic", "--example", "a", "--answer", "b")
    assert result.returncode == 2 and "snake_case" in result.stderr
    result = run_cli(redis_db, project, "activate", "../../etc/passwd")
    assert result.returncode == 1 and "not a model file name" in result.stderr


@pytest.mark.slow  # trains a model or runs Rasa in a subprocess
def test_train_and_evaluate_show_progress_and_the_comparison(redis_db, project):
    config = write_tiny_config(project)
    with FakeRasa.running() as rasa:
        rasa.model_file = None  # a Rasa that has no model loaded yet: nothing to be worse than
        reach = {"RETRAINING_RASA_URLS": rasa.url, "RASA_TOKEN": TOKEN}
        trained = run_cli(
            redis_db, project, "train", "--config", config, "--json", env=reach, timeout=900
        )
    assert trained.returncode == 0, trained.stderr[-2000:]
    job = json.loads(trained.stdout)
    assert job["phase"] == "done" and job["by"] == "ops"
    assert "training" in trained.stderr and "%" in trained.stderr  # the progress bar
    model = job["model"]
    assert (project / "models" / model).is_file()
    # The model against itself: same figures, so never "worse".
    evaluated = run_cli(redis_db, project, "evaluate", model, "--running", model, timeout=900)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "test_set with" in evaluated.stderr  # tqdm bars of the evaluation subprocess
    assert "verdict: NOT_WORSE" in evaluated.stdout and "accuracy" in evaluated.stdout
    listed = run_cli(redis_db, project, "models")
    assert model in listed.stdout and "not_worse" in listed.stdout


def test_train_beside_an_unreachable_rasa_fails_at_once_and_says_what_to_set(redis_db, project):
    # Measured before: the 401 of a Rasa with an unknown token read as "no model running",
    # after 10 minutes of training, and any candidate passed the gate.
    with FakeRasa.running() as rasa:
        reach = {"RETRAINING_RASA_URLS": rasa.url, "RASA_TOKEN": "not-its-token"}
        refused = run_cli(redis_db, project, "train", env=reach)
    assert refused.returncode == 1
    assert "RASA_TOKEN" in refused.stderr and "refused the API token" in refused.stderr
    assert not (project / "models").exists() or not list((project / "models").iterdir())
    gone = {"RETRAINING_RASA_URLS": f"http://127.0.0.1:{free_port()}"}
    unreachable = run_cli(redis_db, project, "train", env=gone)
    assert unreachable.returncode == 1 and "cannot reach Rasa" in unreachable.stderr


def test_models_lists_the_models_folder(redis_db, project):
    (project / "models").mkdir()
    (project / "models" / "storefront-abc.tar.gz").write_bytes(b"x" * 10)
    result = run_cli(redis_db, project, "models")
    assert result.returncode == 0, result.stderr
    assert "storefront-abc.tar.gz" in result.stdout and "not evaluated" in result.stdout
    refused = run_cli(redis_db, project, "activate", "storefront-abc.tar.gz")
    assert refused.returncode == 1 and "never evaluated" in refused.stderr


# ---- the retraining: section of handoff.yml ---------------------------------------------------


def test_the_repo_file_has_the_documented_defaults():
    config = load_config(REPO_ROOT / "handoff.yml", env={})
    retraining = config.retraining
    assert retraining.low_confidence_threshold == 0.6 and retraining.keep_models == 5
    assert retraining.reviewed_file == "data/nlu/reviewed.yml"
    assert (
        retraining.rasa_urls == (config.rasa_url,) and retraining.project_dir == config.project_dir
    )
    assert retraining.tracker_key_prefix == "rasa" and retraining.max_accuracy_drop == 0.02


def test_defaults_follow_the_service_and_the_environment_overrides(tmp_path):
    path = tmp_path / "h.yml"
    path.write_text(
        "rasa_url: http://rasa:5005\nrasa_token: secret\nrecord_ttl_days: 9\n"
        "retraining:\n  keep_models: 3\n  low_confidence_threshold: 0.5\n"
    )
    config = load_config(path, env={"HANDOFF_PROJECT_DIR": "/srv/bot"}).retraining
    assert config.rasa_urls == ("http://rasa:5005",) and config.rasa_token == "secret"
    # Review items quote conversations: they are kept no longer than the records.
    assert config.item_ttl_days == 9
    assert config.project_dir == Path("/srv/bot") and config.keep_models == 3
    env = {
        "RETRAINING_RASA_URLS": "http://a:1/, http://b:2",
        "RETRAINING_KEEP_MODELS": "7",
        "RETRAINING_MAX_ACCURACY_DROP": "0.05",
        "RETRAINING_LOW_CONFIDENCE_THRESHOLD": "0.4",
    }
    config = load_config(path, env=env).retraining
    assert config.rasa_urls == ("http://a:1", "http://b:2") and config.keep_models == 7
    assert config.max_accuracy_drop == 0.05 and config.low_confidence_threshold == 0.4


@pytest.mark.parametrize(
    "section",
    [
        "retraining: [1]",
        "retraining: {nonsense: 1}",
        "retraining: {keep_models: 0}",
        "retraining: {low_confidence_threshold: 2}",
        "retraining: {max_accuracy_drop: -0.1}",
        "retraining: {reviewed_file: /etc/passwd}",
        "retraining: {test_set: ../x.yml}",
        "retraining: {tracker_key_prefix: 'rasa:x'}",
        "retraining: {rasa_urls: http://one}",
        "retraining: {item_ttl_days: 0}",
        "retraining: {item_ttl_days: '30'}",
    ],
)
def test_invalid_sections_are_refused(tmp_path, section):
    path = tmp_path / "h.yml"
    path.write_text(section + "\n")
    with pytest.raises(ConfigError, match="retraining"):
        load_config(path, env={})


def test_an_invalid_environment_value_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="RETRAINING_KEEP_MODELS"):
        load_config(tmp_path / "none.yml", env={"RETRAINING_KEEP_MODELS": "many"})
