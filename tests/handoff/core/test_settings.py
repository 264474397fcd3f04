"""Loading and validating the handoff config."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from handoff.core.errors import ConfigError
from handoff.core.settings import DEV_SECRET, REPO_ROOT, BusinessHours, load_config

STRONG = "x" * 40


def test_defaults_without_a_file(tmp_path):
    config = load_config(tmp_path / "missing.yml", env={})
    assert config.port == 5080 and config.environment == "dev" and config.secret == DEV_SECRET
    assert config.priorities["frustrated"] == "high"


def test_repo_file_loads():
    config = load_config(REPO_ROOT / "handoff.yml", env={})
    assert config.business_hours.open == dt.time(9) and config.business_hours.close == dt.time(18)


def test_file_then_environment(tmp_path):
    path = tmp_path / "h.yml"
    path.write_text(
        "port: 6000\nsla_seconds: 90\nbusiness_hours:\n  timezone: Europe/Berlin\n"
        "  weekdays: [Monday, tue]\n  open: 08:30\n  close: '17:00'\n"
        "priorities: {vip: urgent}\n"
    )
    config = load_config(
        path,
        env={
            "HANDOFF_PORT": "7000",
            "REDIS_URL": "redis://r:1/2",
            "RASA_URL": "http://rasa:5005",
            "RASA_TOKEN": "t",
            "HANDOFF_SECRET": STRONG,
            "HANDOFF_PROJECT_DIR": "/srv/bot",
        },
    )
    assert config.port == 7000 and config.sla_seconds == 90 and config.redis_url == "redis://r:1/2"
    assert config.rasa_url == "http://rasa:5005" and config.rasa_token == "t"
    assert config.secret == STRONG
    assert config.project_dir == Path("/srv/bot") and config.priorities == {"vip": "urgent"}
    hours = config.business_hours
    assert hours.weekdays == ("mon", "tue") and hours.open == dt.time(8, 30)  # unquoted 08:30 works
    assert hours.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    "yaml_text",
    [
        "port: -1",
        "nonsense_key: 1",
        "priorities: {x: critical}",
        "default_priority: meh",
        "business_hours: {timezone: Mars/Olympus}",
        "business_hours: {weekdays: [funday]}",
        "business_hours: {open: '18:00', close: '09:00'}",
        "business_hours: {open: noon}",
        "[1, 2]",
        "port: [oops",
    ],
)
def test_invalid_files_are_refused(tmp_path, yaml_text):
    path = tmp_path / "h.yml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError):
        load_config(path, env={})


def test_invalid_environment_value(tmp_path):
    with pytest.raises(ConfigError, match="HANDOFF_PORT"):
        load_config(tmp_path / "none.yml", env={"HANDOFF_PORT": "eighty"})


def test_model_server_mode_from_file_or_environment(tmp_path):
    assert load_config(tmp_path / "none.yml", env={}).retraining.model_server is False
    env = {"RETRAINING_MODEL_SERVER": "true", "RETRAINING_MODEL_SERVER_TIMEOUT_SECONDS": "90"}
    retraining = load_config(tmp_path / "none.yml", env=env).retraining
    assert (retraining.model_server, retraining.model_server_timeout_seconds) == (True, 90.0)
    with pytest.raises(ConfigError, match="RETRAINING_MODEL_SERVER"):
        load_config(tmp_path / "none.yml", env={"RETRAINING_MODEL_SERVER": "sometimes"})
    path = tmp_path / "h.yml"
    for wrong in ("model_server: maybe", "model_server_timeout_seconds: 0"):
        path.write_text(f"retraining: {{{wrong}}}")
        with pytest.raises(ConfigError, match="model_server"):
            load_config(path, env={})


def test_secret_policy(tmp_path, caplog):
    dev = load_config(tmp_path / "none.yml", env={})
    with caplog.at_level(logging.WARNING):
        dev.check_secret()
    assert "insecure" in caplog.text
    prod = load_config(tmp_path / "none.yml", env={"HANDOFF_ENV": "production"})
    with pytest.raises(ConfigError, match="HANDOFF_SECRET"):
        prod.check_secret()
    short = load_config(
        tmp_path / "none.yml", env={"HANDOFF_ENV": "production", "HANDOFF_SECRET": "short"}
    )
    with pytest.raises(ConfigError):
        short.check_secret()
    strong = load_config(
        tmp_path / "none.yml", env={"HANDOFF_ENV": "production", "HANDOFF_SECRET": STRONG}
    )
    strong.check_secret()


def test_business_hours():
    hours = BusinessHours(timezone="America/New_York")
    utc = dt.timezone.utc
    assert hours.is_open(dt.datetime(2024, 1, 3, 15, 0, tzinfo=utc))  # Wed 10:00 NY
    assert not hours.is_open(dt.datetime(2024, 1, 3, 23, 30, tzinfo=utc))  # Wed 18:30 NY
    assert not hours.is_open(dt.datetime(2024, 1, 6, 15, 0, tzinfo=utc))  # Saturday


def test_open_equal_to_close_means_around_the_clock():
    import datetime as dt

    from handoff.core.settings import BusinessHours

    hours = BusinessHours(
        timezone="UTC", weekdays=("mon",), open=dt.time(0, 0), close=dt.time(0, 0)
    )
    monday_night = dt.datetime(2026, 11, 23, 23, 59, 30, tzinfo=dt.timezone.utc)
    assert hours.is_open(monday_night)
    assert not hours.is_open(monday_night + dt.timedelta(minutes=1))  # Tuesday


def test_tickets_offer_when_no_csr_is_online_by_default(tmp_path):
    tickets = load_config(tmp_path / "none.yml", env={}).tickets
    assert tickets.offer_when_no_csr_online is True and tickets.presence_seconds == 60
    path = tmp_path / "h.yml"
    path.write_text("tickets: {offer_when_no_csr_online: false, presence_seconds: 30}")
    tickets = load_config(path, env={}).tickets
    assert tickets.offer_when_no_csr_online is False and tickets.presence_seconds == 30
    assert tickets.sla["urgent"].first_reply_hours == 1.0  # the SLA keeps its defaults
    for bad in (
        "offer_when_no_csr_online: 'yes'",
        "presence_seconds: 5",  # consoles refresh every 5 s: too short to count
        "presence_seconds: 86401",
        "presence_seconds: 1.5",
        "presence_seconds: true",
    ):
        path.write_text(f"tickets: {{{bad}}}")
        with pytest.raises(ConfigError, match="tickets"):
            load_config(path, env={})
