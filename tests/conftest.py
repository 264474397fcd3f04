"""Session-wide fixtures: a real Redis server, started once per test run."""

from __future__ import annotations

import pytest
import redis

from tests.redis_server import running_redis


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


# --- the trained model (trained only when its inputs changed; see bot/training.py) ---

NLU_RESULTS: list = []


@pytest.fixture(scope="session")
def trained_model():
    from pathlib import Path

    from bot.training import ensure_model

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
