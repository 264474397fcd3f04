"""Browser fixtures: Debian's Chromium driven by Playwright, against the real stack.

The stack is the session fixture ``stack`` of tests/conftest.py, shared with the
integration tests, so one set of processes serves both suites. Browser tests are
skipped, with the reason, when ``/usr/bin/chromium`` or the ``playwright`` package is
missing; nothing is downloaded (never ``playwright install``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, missing_requirement

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """Skip before any fixture starts the stack, so a machine without a browser loses no time."""
    reason = missing_requirement()
    if not reason:
        return
    marker = pytest.mark.skip(reason=f"browser tests skipped: {reason}")
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()) and Path(
            item.path
        ).resolve().is_relative_to(HERE):
            item.add_marker(marker)


@pytest.fixture(scope="module")
def browser() -> Iterator["object"]:
    """One headless Chromium for the browser tests (closed before anything else runs)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(autouse=True)
def short_queue(request):
    """Each console test starts with an empty queue.

    The integration, security and earlier browser tests on the shared stack leave customers
    waiting; behind more than the console's first 20 previews, a new conversation shows its
    summary instead of its last message, which the tests read.
    """
    if "stack" in request.fixturenames:
        from bot.devtools.stack import DEMO_PASSWORD
        from tests.support.clients import Csr

        stack = request.getfixturevalue("stack")
        Csr(stack.handoff_url, "admin", DEMO_PASSWORD).close_waiting()
    yield


@pytest.fixture
def shots(request):
    """``shots("name", page)`` saves ``test-artifacts/browser/<test>/<nn>-<name>.png``."""
    folder = ARTIFACTS / request.node.name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    counter = {"n": 0}

    def take(name: str, page, full_page: bool = False) -> Path:
        counter["n"] += 1
        path = folder / f"{counter['n']:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
