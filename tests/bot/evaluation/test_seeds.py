"""The seed configs: config.yml with only DIETClassifier's random_seed replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.evaluation.seeds import diet_seed, with_diet_seed, write_seed_config

CONFIG = Path("config.yml")


def test_only_the_diet_seed_changes():
    config = yaml.safe_load(CONFIG.read_text())
    derived = with_diet_seed(config, 13)
    assert diet_seed(derived) == 13 and diet_seed(config) != 13
    changed = [
        (a["name"], key)
        for a, b in zip(config["pipeline"], derived["pipeline"], strict=True)
        for key in set(a) | set(b)
        if a.get(key) != b.get(key)
    ]
    assert changed == [("DIETClassifier", "random_seed")]
    assert derived["policies"] == config["policies"]


def test_a_config_without_diet_is_refused():
    with pytest.raises(ValueError):
        with_diet_seed({"pipeline": [{"name": "KeywordIntentClassifier"}]}, 1)


def test_the_seed_config_is_a_stable_file(tmp_path):
    path = write_seed_config(CONFIG, 13, tmp_path)
    assert diet_seed(yaml.safe_load(path.read_text())) == 13
    written = path.stat().st_mtime_ns
    assert write_seed_config(CONFIG, 13, tmp_path) == path
    assert path.stat().st_mtime_ns == written  # not rewritten: same bytes, same fingerprint
