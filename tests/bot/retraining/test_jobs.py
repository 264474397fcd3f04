"""Background training jobs: a real ``rasa train`` of a tiny config on a copy of the project."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.nlu.training import model_fingerprint
from bot.retraining import keys
from bot.retraining.errors import InvalidInput, JobRunning, NoJob
from bot.retraining.jobs import Job, Progress, TrainingJobs, planned_epochs
from tests.support.project import write_tiny_config

TRAIN_TIMEOUT = 600


def test_progress_reads_rasa_output():
    progress = Progress({"DIETClassifier": 100, "TEDPolicy": 50})
    assert progress.feed(
        "2025-01-01 INFO rasa.engine.training.hooks - Starting to train component 'DIETClassifier'."
    )
    assert progress.feed("Epochs:  45%|████▌     | 45/100 [00:10<00:12, 4.50it/s, t_loss=1.2]")
    assert progress.feed("Epochs:  50%|█████     | 50/100 [00:11<00:11, 4.50it/s, t_loss=1.1]")
    assert (progress.component, progress.epoch, progress.epochs) == ("DIETClassifier", 50, 100)
    assert progress.percent == pytest.approx(100 * 50 / 150, abs=0.1)
    assert len([line for line in progress.tail if "Epochs" in line]) == 1  # bars redraw in place
    progress.feed("INFO rasa.engine.training.hooks - Finished training component 'DIETClassifier'.")
    progress.feed("INFO ... - Starting to train component 'TEDPolicy'.")
    progress.feed("Epochs: 100%|██████████| 50/50 [00:05<00:00]")
    assert progress.percent == 100.0
    assert not progress.feed("")


def test_planned_epochs_of_the_project_config(project):
    assert planned_epochs(project / "config.yml") == {
        "DIETClassifier": 100,
        "ResponseSelector": 60,
        "TEDPolicy": 40,
    }


@pytest.mark.slow  # trains a model or runs Rasa in a subprocess
async def test_a_job_trains_a_model_ensure_model_recognises_and_evaluates_it(
    redis_client, retraining_config, project
):
    config_name = write_tiny_config(project)
    jobs = TrainingJobs(redis_client, retraining_config)
    job = await jobs.start(config_path=config_name, by="admin")
    assert job.phase == "queued" and job.by == "admin"
    with pytest.raises(JobRunning):
        await jobs.start(config_path=config_name)
    seen = []
    done = await jobs.wait(
        job.id, timeout=TRAIN_TIMEOUT, on_progress=lambda j: seen.append(j.phase)
    )
    assert done.phase == "done", (done.error, done.log_tail)
    # Named like bot.nlu.training.ensure_model names it, so `make run` and the tests reuse it.
    assert done.model == f"storefront-{model_fingerprint(project, config_name)}.tar.gz"
    assert (project / "models" / done.model).is_file()
    assert not list((project / "models").glob(".training-*"))
    assert "training" in seen and "evaluating" in seen
    assert done.epochs == 1 and done.percent == 100.0 and done.log_tail
    # No model runs (and none was activated): an incremental job trains from scratch, saying why.
    assert done.mode == "full" and done.base_model is None and "no model runs" in done.full_reason
    comparison = done.comparison
    assert comparison["candidate"] == done.model and comparison["running"] is None
    assert comparison["verdict"] == "not_worse"
    test_set = comparison["datasets"]["test_set"]
    assert test_set["candidate"]["examples"] >= 150 and 0 <= test_set["candidate"]["accuracy"] <= 1
    assert json.loads(await redis_client.get(keys.comparison(done.model)))["verdict"] == "not_worse"
    assert await redis_client.get(keys.LOCK) is None  # the next job may start
    assert (await jobs.status()).id == job.id


@pytest.mark.slow  # trains a model or runs Rasa in a subprocess
async def test_cancel_stops_the_training_and_leaves_no_model(
    redis_client, retraining_config, project
):
    config_name = write_tiny_config(project, epochs=2000)
    jobs = TrainingJobs(redis_client, retraining_config)
    job = await jobs.start(config_path=config_name)
    # Wait until DIET is visibly training, then cancel from "another process" (a second instance).
    for _ in range(TRAIN_TIMEOUT * 2):
        current = await jobs.get(job.id)
        if current.epoch >= 2 or current.finished:
            break
        await asyncio.sleep(0.5)
    assert current.phase == "training" and current.component == "DIETClassifier"
    cancelled = await TrainingJobs(redis_client, retraining_config).cancel()
    assert cancelled.phase == "cancelled" and cancelled.model is None
    assert not list((project / "models").glob("*.tar.gz"))
    assert not list((project / "models").glob(".training-*"))
    assert await redis_client.get(keys.LOCK) is None
    with pytest.raises(NoJob):
        await jobs.cancel()


@pytest.mark.slow  # trains a model or runs Rasa in a subprocess
async def test_a_failed_training_reports_why_and_releases_the_lock(
    redis_client, retraining_config, project
):
    (project / "broken.yml").write_text(
        "language: en\npipeline:\n  - name: NoSuchComponent\npolicies: []\n"
    )
    jobs = TrainingJobs(redis_client, retraining_config)
    job = await jobs.start(config_path="broken.yml")
    done = await jobs.wait(job.id, timeout=TRAIN_TIMEOUT)
    assert done.phase == "failed" and "rasa train failed" in done.error
    assert not list((project / "models").glob("*.tar.gz"))
    assert await redis_client.get(keys.LOCK) is None


async def test_a_job_whose_process_died_is_reported_failed(redis_client, retraining_config):
    job = Job(id="ghost", phase="training")
    await redis_client.set(keys.job(job.id), json.dumps(job.to_dict()))
    await redis_client.set(keys.LAST_JOB, job.id)
    status = await TrainingJobs(redis_client, retraining_config).status()
    assert status.phase == "failed" and "stopped" in status.error


@pytest.mark.parametrize("config_path", ["../outside.yml", "missing.yml"])
async def test_configs_outside_the_project_or_missing_are_refused(
    redis_client, retraining_config, config_path
):
    with pytest.raises(InvalidInput):
        await TrainingJobs(redis_client, retraining_config).start(config_path=config_path)
    assert await redis_client.get(keys.LOCK) is None
