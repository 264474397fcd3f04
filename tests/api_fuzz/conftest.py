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
    """The run's seed and counters, the callers, and the project's data files as they were.

    The data files are the copy the handoff service writes to, where generated FAQs and labels
    land; every fuzz module puts them back (see ``callers``).
    """
    from bot.devtools.stack import DEMO_PASSWORD

    run = api_fuzz.FuzzRun(seed=api_fuzz.fuzz_seed())
    api_fuzz.RUNS.append(run)
    callers = api_fuzz.Callers(stack.rasa_url, stack.handoff_url, DEMO_PASSWORD, fuzz_account[1])
    kept = _KeptData(Path(stack.extra_env["HANDOFF_PROJECT_DIR"]) / "data")
    try:
        yield run, callers, kept
    finally:
        try:
            callers.close_leftovers()
        finally:
            kept.restore()
            kept.discard()
    if _whole_fuzz_selected(request.session):
        short = {api: n for api, n in run.cases.items() if n < MIN_CASES}
        assert not short, f"the fuzz ran fewer than {MIN_CASES} cases: {short}"


class _KeptData:
    """A copy of a data folder taken before the fuzz, to put back after it."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.copy = Path(tempfile.mkdtemp(prefix="api-fuzz-data-")) / "data"
        shutil.copytree(data, self.copy)

    def restore(self) -> None:
        shutil.rmtree(self.data)
        shutil.copytree(self.copy, self.data)

    def discard(self) -> None:
        shutil.rmtree(self.copy.parent)


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

    Not only at the end of the session, because later tests share the stack: a fuzzed
    ``PUT /api/availability`` left the team away, so their escalations were offered tickets,
    and an FAQ the fuzz created stayed in the data the retraining test evaluates on.
    """
    _, callers, kept = fuzz
    yield callers
    try:
        callers.close_leftovers()
    finally:
        kept.restore()


@pytest.fixture(scope="session")
def handoff_schema(fuzz, stack):
    run = fuzz[0]
    configuration = api_fuzz.config(run.seed, api_fuzz.HANDOFF_EXAMPLES)
    return api_fuzz.load(f"{stack.handoff_url}/openapi.yaml", stack.handoff_url, configuration)


@pytest.fixture(scope="session")
def widget_schema(fuzz, stack):
    run = fuzz[0]
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
