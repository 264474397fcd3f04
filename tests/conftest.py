"""Session-wide fixtures: a real Redis server, started once per test run."""

from __future__ import annotations

import os

import pytest
import redis

# Nothing leaves the machine during tests: no Rasa telemetry or error reports.
os.environ["RASA_TELEMETRY_ENABLED"] = "false"

from tests.support.redis_server import running_redis


@pytest.fixture(scope="session")
def redis_url() -> str:
    with running_redis() as url:
        yield url


@pytest.fixture
def redis_db(redis_url):
    """A clean database for one test (the server is shared by the session)."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield redis_url
    client.flushdb()
    client.close()


# --- the trained model (trained only when its inputs changed; see bot/nlu/training.py) ---

NLU_RESULTS: list = []


@pytest.fixture(scope="session")
def trained_model():
    from pathlib import Path

    from bot.nlu.training import ensure_model

    return ensure_model(Path("."))


@pytest.fixture(scope="session")
def nlu_agent(trained_model):
    """The model loaded once for the whole run (loading takes tens of seconds)."""
    import logging

    import structlog
    from rasa.core.agent import Agent

    # Rasa logs every parse at debug level through structlog; keep test output readable.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("rasa").setLevel(logging.WARNING)
    return Agent.load(str(trained_model))


def pytest_terminal_summary(terminalreporter):
    """Print the NLU figures at the end of the run, where people look."""
    for line in NLU_RESULTS:
        terminalreporter.write_line(line)


# --- every process of the product, started once for the integration and browser tests ---


@pytest.fixture(scope="session")
def stack(trained_model, tmp_path_factory):
    """Redis, action server, Rasa and the handoff service on free ports, with a fresh demo store."""
    import asyncio
    import datetime as dt
    from pathlib import Path

    import yaml

    from actions.orders.demo_store import seed_demo_store
    from bot.devtools.stack import StackSettings, bot_stack, ensure_demo_accounts, free_port

    workdir = tmp_path_factory.mktemp("stack")
    # The handoff service's retraining tools write data and models: give them a copy of the project.
    project = project_copy(Path("."), workdir / "project", trained_model)
    handoff_config = workdir / "handoff.yml"
    config = yaml.safe_load(Path("handoff.yml").read_text())
    # CSRs "work" around the clock in the tests, so escalations queue instead of offering tickets.
    config["business_hours"].update(
        weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], open="00:00", close="00:00"
    )
    handoff_config.write_text(yaml.safe_dump(config))
    settings = StackSettings(
        rasa_port=free_port(),
        actions_port=free_port(),
        handoff_port=free_port(),
        redis_port=free_port(),
        model=trained_model.resolve(),
        order_db=workdir / "store.db",
        log_dir=workdir / "log",
        data_dir=workdir / "redis",
        extra_env={"HANDOFF_CONFIG": str(handoff_config), "HANDOFF_PROJECT_DIR": str(project)},
    )
    seed_demo_store(settings.order_db, dt.date.today())
    with bot_stack(settings):
        asyncio.run(ensure_demo_accounts(settings.redis_url))
        yield settings


def project_copy(source, target, model):
    """The files a bot project is trained and served from, copied to ``target`` (``build/`` linked).

    The repository's own data and models stay untouched by tests that label, train and activate.
    """
    import shutil

    for name in (
        "config.yml",
        "domain.yml",
        "endpoints.yml",
        "credentials.yml",
        "data",
        "tests/nlu",
    ):
        path = source / name
        if path.is_dir():
            shutil.copytree(path, target / name)
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / name)
    (target / "build").symlink_to((source / "build").resolve(), target_is_directory=True)
    (target / "models").mkdir()
    shutil.copy2(model, target / "models" / model.name)
    return target


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "end_to_end: slow whole-product test, run after the "
        "integration tests and before the browser tests",
    )


def pytest_collection_modifyitems(items):
    """Browser tests last: Playwright's sync API keeps an event loop on the main thread while it
    runs, which the async tests must not meet. Just before them the end-to-end tests, which change
    the shared stack's model for a while. The sort is stable, so the rest keep their order."""
    items.sort(
        key=lambda item: (
            "tests/browser/" in item.nodeid,
            item.get_closest_marker("end_to_end") is not None,
        )
    )
