"""Debian's Chromium driven by Playwright: where it is, how it starts, and what the browser
tests share (Playwright's auto-waiting ``expect``, screenshots for docs/, condition waits).

Nothing is downloaded (never ``playwright install``): without ``/usr/bin/chromium`` or the
``playwright`` package the browser tests are skipped, with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

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


def expect(*args, **kwargs):
    """Playwright's ``expect`` (imported late: the package is optional)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args, **kwargs)


def publish_screenshot(source: Path, name: str) -> None:
    """Copy a step's screenshot into docs/ when asked (UPDATE_DOC_SCREENSHOTS=1).

    Off by default, so a test run never leaves changed binary files in the work tree.
    """
    if os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1":
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, DOC_SCREENSHOTS / name)


def broken_images_settled(page) -> None:
    """Return once a broken ``<img>`` loaded now has fired its ``onerror``.

    An image injected earlier (``<img src=x onerror=...>``) asked for its URL before this
    probe did, so its handler would have run by then: checking for its effect afterwards
    waits on that event instead of a fixed time.
    """
    page.evaluate("""() => new Promise(resolve => {
        const probe = new Image();
        probe.onload = probe.onerror = () => resolve(true);
        probe.src = 'x?settled=' + Date.now();
    })""")
