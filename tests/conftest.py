"""Session-wide fixtures and hooks: a real Redis server (started only when a selected test needs
it), the trained model, every process of the product, and the test tiers.

Tiers, marked automatically at collection (``pytest -m fast`` is ``make test-fast``):

* ``redis``: uses the session's Redis server (the ``redis_url`` fixture, directly or not);
* ``model``: needs the trained Rasa model (``trained_model``, ``nlu_agent``, ``stack``);
* ``slow``: trains a model of its own or runs Rasa in a subprocess (tens of seconds or more);
* ``fast``: none of these.
"""

from __future__ import annotations

import os

import pytest
import redis
import redis.asyncio as aioredis

# Nothing leaves the machine during tests: no Rasa telemetry or error reports.
os.environ["RASA_TELEMETRY_ENABLED"] = "false"

from tests.support.redis_server import running_redis
from tests.support.report import FAULT_RESULTS, NLU_RESULTS


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


@pytest.fixture
async def redis_client(redis_db):
    """An asyncio client (str replies) on the test's clean database, closed afterwards.

    It runs in the event loop of the test that uses it: a module's tests that share one
    server per module run in the module's loop, the others in their own (see
    ``pytest_fixture_setup`` below).
    """
    client = aioredis.from_url(redis_db, decode_responses=True)
    try:
        yield client
    finally:
        await client.close()
        await client.connection_pool.disconnect()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef, request):
    """Run ``redis_client`` in the event loop of the test that asked for it.

    pytest-asyncio gives an async fixture one loop scope; a client whose connections were
    opened in the test's loop must also be closed there. Until pytest-asyncio can follow the
    test's loop by itself, the scope is set here before its own hook reads it (``_loop_scope``,
    the attribute ``pytest_asyncio.fixture(loop_scope=...)`` sets).
    """
    if fixturedef.argname == "redis_client":
        marker = request.node.get_closest_marker("asyncio")
        loop_scope = marker.kwargs.get("loop_scope") if marker else None
        fixturedef.func._loop_scope = loop_scope or "function"
    return (yield)


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) for the session; the ``stack`` sends its mail here."""
    from tests.support.smtp import running_smtp

    with running_smtp() as server:
        yield server


@pytest.fixture
def outbox(redis_client):
    from handoff.core.outbox import Outbox

    return Outbox(redis_client)


# --- the trained model (trained only when its inputs changed; see bot/nlu/training.py) ---


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
    for line in NLU_RESULTS + FAULT_RESULTS:
        terminalreporter.write_line(line)


# --- every process of the product, started once for the integration and browser tests ---


@pytest.fixture(scope="session")
def stack(trained_model, tmp_path_factory, smtp_server):
    """Redis, action server, Rasa and the handoff service on free ports, with a fresh demo store.

    The handoff service sends its mail to ``smtp_server`` and takes replies at
    ``/api/inbound/email?key=`` + ``tests.support.smtp.INBOUND_SECRET``.
    """
    import asyncio
    import datetime as dt
    from pathlib import Path

    import yaml

    from actions.orders.demo_store import seed_demo_store
    from bot.devtools.stack import StackSettings, bot_stack, ensure_demo_accounts
    from tests.support.project import copy_project
    from tests.support.redis_server import free_port
    from tests.support.smtp import INBOUND_SECRET

    workdir = tmp_path_factory.mktemp("stack")
    # The handoff service's retraining tools write data and models: give them a copy of the project.
    project = copy_project(workdir / "project", link_build=True, model=trained_model)
    handoff_config = workdir / "handoff.yml"
    config = yaml.safe_load(Path("handoff.yml").read_text())
    # CSRs "work" around the clock in the tests, so escalations queue instead of offering tickets.
    config["business_hours"].update(
        weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], open="00:00", close="00:00"
    )
    # No console is open in most stack tests either: queue rather than offer a ticket.
    config["tickets"] = {**(config.get("tickets") or {}), "offer_when_no_csr_online": False}
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
        extra_env={
            "HANDOFF_CONFIG": str(handoff_config),
            "HANDOFF_PROJECT_DIR": str(project),
            # Sanic takes the client address from X-Real-IP (as behind a proxy): the API fuzz
            # (tests/api_fuzz) sends each request from its own address, so its thousands of
            # sessions and failed logins never use up the limits of 127.0.0.1, where every
            # other test comes from. Requests without the header are unchanged.
            "SANIC_REAL_IP_HEADER": "X-Real-IP",
            # Rasa's Sanic access log on (Rasa's default is ERROR): each request line, query
            # string included, reaches rasa.log, so tests/security/test_logs.py can show the
            # widget socket's ?token= is redacted there rather than merely never written.
            "LOG_LEVEL_LIBRARIES": "INFO",
            # Ticket mail goes to the session's SMTP server (plain SMTP on the loopback).
            "HANDOFF_SMTP_HOST": smtp_server.host,
            "HANDOFF_SMTP_PORT": str(smtp_server.port),
            "HANDOFF_SMTP_STARTTLS": "false",
            "HANDOFF_INBOUND_EMAIL_SECRET": INBOUND_SECRET,
        },
    )
    seed_demo_store(settings.order_db, dt.date.today())
    with bot_stack(settings):
        asyncio.run(ensure_demo_accounts(settings.redis_url))
        yield settings


# --- tiers and order -------------------------------------------------------------------------

REDIS_FIXTURES = {"redis_url"}
MODEL_FIXTURES = {"trained_model", "nlu_agent", "stack"}
# Fixtures that train a model of their own; a test that does so itself says @pytest.mark.slow.
SLOW_FIXTURES = {"tiny_model"}
TIERS = ("redis", "model", "slow")


def pytest_configure(config):
    for line in (
        "redis: uses the session's Redis server (marked automatically)",
        "slow: trains a model or runs Rasa in a subprocess (marked automatically)",
        "fast: needs neither Redis nor a model (marked automatically; make test-fast)",
        "end_to_end: slow whole-product test, run after the "
        "integration tests and before the browser tests",
    ):
        config.addinivalue_line("markers", line)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Mark each test's tier (before ``-m`` selects), then put the browser tests last.

    Browser tests last: Playwright's sync API keeps an event loop on the main thread while it
    runs, which the async tests must not meet. Just before them the end-to-end tests, which change
    the shared stack's model for a while. The sort is stable, so the rest keep their order."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & REDIS_FIXTURES:
            item.add_marker(pytest.mark.redis)
        if used & MODEL_FIXTURES:
            item.add_marker(pytest.mark.model)
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(pytest.mark.fast)
    items.sort(
        key=lambda item: (
            "tests/browser/" in item.nodeid,
            item.get_closest_marker("end_to_end") is not None,
        )
    )
