"""The fuzz run: its seed, who calls, the two served documents (tests/support/api_fuzz.py)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.support import api_fuzz

MIN_CASES = 1000  # per API and run (issue #16's acceptance)
FUZZ_FILES = ("test_handoff_api.py", "test_widget_api.py", "test_stateful.py")


@pytest.fixture(scope="session")
def fuzz(stack, fuzz_account, request):
    """The run's seed and counters, and the callers.

    Afterwards the fuzz's leftovers are put away for the tests that share the stack: the
    conversations it left queued or assigned are closed, and the project's data files (the
    copy the handoff service writes to, where generated FAQs and labels land) are restored,
    so the retraining tests train on the data they expect.
    """
    from bot.devtools.stack import DEMO_PASSWORD

    run = api_fuzz.FuzzRun(seed=api_fuzz.fuzz_seed())
    api_fuzz.RUNS.append(run)
    callers = api_fuzz.Callers(stack.rasa_url, stack.handoff_url, DEMO_PASSWORD, fuzz_account[1])
    data = Path(stack.extra_env["HANDOFF_PROJECT_DIR"]) / "data"
    kept = Path(tempfile.mkdtemp(prefix="api-fuzz-data-"))
    shutil.copytree(data, kept / "data")
    try:
        yield run, callers
    finally:
        try:
            callers.close_leftovers()
        finally:
            shutil.rmtree(data)
            shutil.copytree(kept / "data", data)
            shutil.rmtree(kept)
    if _whole_fuzz_selected(request.session):
        short = {api: n for api, n in run.cases.items() if n < MIN_CASES}
        assert not short, f"the fuzz ran fewer than {MIN_CASES} cases: {short}"


def _whole_fuzz_selected(session) -> bool:
    """Whether this run holds every fuzz test (a run of one file cannot reach the count)."""
    selected = {Path(item.path).name for item in session.items}
    return set(FUZZ_FILES) <= selected


@pytest.fixture(scope="session")
def fuzz_account(stack):
    """(username, password) of a CSR account of the fuzz's own (logout, password change)."""
    password = secrets.token_urlsafe(18)
    asyncio.run(_fuzz_account(stack.redis_url, password))
    return api_fuzz.FUZZ_ACCOUNT, password


async def _fuzz_account(redis_url: str, password: str) -> None:
    """A CSR account of the fuzz's own: logout and password change may do what they like to it."""
    from dataclasses import replace

    from handoff.core.resources import Resources
    from handoff.core.settings import load_config

    resources = Resources(replace(load_config(), redis_url=redis_url))
    try:
        await resources.auth.delete_account(api_fuzz.FUZZ_ACCOUNT)  # from an earlier run
        await resources.auth.create_account(api_fuzz.FUZZ_ACCOUNT, password, "csr")
    finally:
        await resources.close()


@pytest.fixture(scope="session")
def fuzz_run(fuzz):
    return fuzz[0]


@pytest.fixture(scope="module")
def callers(fuzz):
    """The callers; after each fuzz module its leftovers are put away at once.

    Not only at the end of the session: a fuzzed ``PUT /api/availability`` left the team away
    for every later test on the stack, whose escalations were then offered tickets.
    """
    yield fuzz[1]
    fuzz[1].close_leftovers()


@pytest.fixture(scope="session")
def handoff_schema(fuzz, stack):
    run, _ = fuzz
    configuration = api_fuzz.config(run.seed, api_fuzz.HANDOFF_EXAMPLES)
    return api_fuzz.load(f"{stack.handoff_url}/openapi.yaml", stack.handoff_url, configuration)


@pytest.fixture(scope="session")
def widget_schema(fuzz, stack):
    run, _ = fuzz
    configuration = api_fuzz.config(run.seed, api_fuzz.WIDGET_EXAMPLES)
    url = f"{stack.rasa_url}{api_fuzz.WIDGET_PREFIX}/openapi.yaml"
    return api_fuzz.load(url, stack.rasa_url, configuration)


@pytest.fixture(scope="session")
def both_documents(stack):
    """Both served documents merged, for the stateful scenarios."""
    return api_fuzz.merged_document(
        api_fuzz.fetch_document(f"{stack.handoff_url}/openapi.yaml"),
        api_fuzz.fetch_document(f"{stack.rasa_url}{api_fuzz.WIDGET_PREFIX}/openapi.yaml"),
    )


@pytest.fixture(autouse=True)
def _timed():
    """Add each fuzz test's duration to the run's (the summary's time)."""
    started = time.monotonic()
    yield
    if api_fuzz.RUNS:
        api_fuzz.RUNS[-1].seconds += time.monotonic() - started


def pytest_terminal_summary(terminalreporter):
    """The seed (to replay a failure) and how many cases each API got."""
    for run in api_fuzz.RUNS:
        for line in run.summary():
            terminalreporter.write_line(line)
