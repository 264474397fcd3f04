"""Fixtures for the retraining tests: a copy of the bot project and its retraining settings.

Everything that writes project files works on ``project`` (a copy in tmp_path),
never on the repository's data/. Trackers are built with tests/support/trackers.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.core.settings import RetrainingConfig
from tests.support.project import copy_project


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture
def retraining_config(project) -> RetrainingConfig:
    return RetrainingConfig(project_dir=project, rasa_urls=(), tracker_key_prefix="rasa")
