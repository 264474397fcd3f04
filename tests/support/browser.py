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
from typing import Optional

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


def staff_log_in(page, stack, path: str, username: str, password: Optional[str] = None) -> None:
    """Log ``username`` in on the console or admin page at ``path`` (demo password by default)."""
    from bot.devtools.stack import DEMO_PASSWORD

    page.goto(f"{stack.handoff_url}{path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def open_console_tab(page, conv_id: str) -> None:
    """Make ``conv_id`` the console's open tab (as a CSR's earlier session left it), then reload."""
    page.evaluate(
        """id => {
        const s = JSON.parse(sessionStorage.getItem('hp-console'));
        s.tabs = [id]; s.active = id;
        sessionStorage.setItem('hp-console', JSON.stringify(s));
    }""",
        conv_id,
    )
    page.reload()


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
