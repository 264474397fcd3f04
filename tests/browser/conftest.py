"""Browser fixtures: Debian's Chromium driven by Playwright, against the real stack.

The stack is the session fixture ``stack`` of tests/conftest.py, shared with the
integration tests, so one set of processes serves both suites. Browser tests are
skipped, with the reason, when ``/usr/bin/chromium`` or the ``playwright`` package is
missing; nothing is downloaded (never ``playwright install``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path("test-artifacts/browser")
DOC_SCREENSHOTS = Path("docs/screenshots")
HERE = Path(__file__).resolve().parent


def missing_requirement() -> str:
    """Why the browser tests cannot run here, or "" when they can."""
    if importlib.util.find_spec("playwright") is None:
        return (
            "the `playwright` Python package is not installed "
            "(.venv/bin/pip install playwright; its driver is bundled, no browser download)"
        )
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return ""


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


def publish_screenshot(source: Path, name: str) -> None:
    """Copy a step's screenshot into docs/ when asked (UPDATE_DOC_SCREENSHOTS=1).

    Off by default, so a test run never leaves changed binary files in the work tree.
    """
    if os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1":
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, DOC_SCREENSHOTS / name)
