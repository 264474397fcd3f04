"""Rasa's own checks of the project: data validation and the test stories."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

RASA = [sys.executable, "-m", "rasa"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}


def run_rasa(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*RASA, *args], capture_output=True, text=True, env=ENV, timeout=timeout)


# Warnings Rasa's validator gives for things it cannot see: responses sent by
# custom actions and forms, `inform` used only inside forms, and the `faq`
# retrieval intent that Rasa itself merges from the FAQ data into the domain.
_UNUSED_UTTERANCE = re.compile(r"The utterance '(utter_\w+)' is not used in any story or rule")
_KNOWN = (
    "The intent 'inform' is not used in any story or rule",
    "The following duplicated intents have been found across multiple domain files: faq",
)


def _sent_by_code(utterance: str) -> bool:
    """Whether a custom action or a form sends this response."""
    if utterance.startswith("utter_ask_"):
        return True
    return any(f'"{utterance}"' in path.read_text() for path in Path("actions").rglob("*.py"))


@pytest.mark.slow  # trains a model or runs Rasa in a subprocess
def test_rasa_data_validate_is_clean():
    result = run_rasa("data", "validate")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    warnings = [
        line.split("UserWarning: ", 1)[1].strip()
        for line in output.splitlines()
        if "UserWarning: " in line
    ]
    unexplained = [
        w
        for w in warnings
        if not w.startswith(_KNOWN)
        and not ((m := _UNUSED_UTTERANCE.search(w)) and _sent_by_code(m.group(1)))
        and "Slot auto-fill has been removed" not in w  # Rasa 3.6 always says this
    ]
    assert unexplained == []


@pytest.mark.model
def test_the_test_stories_pass(trained_model, tmp_path):
    result = run_rasa(
        "test",
        "core",
        "--model",
        str(trained_model),
        "--stories",
        "tests/test_stories.yml",
        "--out",
        str(tmp_path),
        "--fail-on-prediction-errors",
        "--no-plot",
    )
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, details[-6000:] + result.stdout[-3000:] + result.stderr[-3000:]
