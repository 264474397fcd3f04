"""Rasa's own checks of the project: data validation and the test stories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RASA = [sys.executable, "-m", "rasa"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}


def run_rasa(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*RASA, *args], capture_output=True, text=True, env=ENV, timeout=timeout)


def test_rasa_data_validate_is_clean():
    result = run_rasa("data", "validate", "--fail-on-warnings")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


@pytest.mark.model
def test_the_test_stories_pass(trained_model, tmp_path):
    result = run_rasa(
        "test", "core", "--model", str(trained_model), "--stories", "tests/test_stories.yml",
        "--out", str(tmp_path), "--fail-on-prediction-errors", "--no-plot",
    )
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, details[-6000:] + result.stdout[-3000:] + result.stderr[-3000:]
