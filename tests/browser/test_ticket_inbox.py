"""The console's ticket inbox in Chromium: a ticket the bot left, answered, noted and solved; a
CSR's own ticket; missed targets in red; customers' markup shown as text; no CSP violation.

No Rasa and no model: a handoff service of its own (``python -m handoff.service``) on the
session's Redis, tickets put there the way the action server does (``Resources``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from handoff.core.auth import Auth
from handoff.core.resources import Resources
from handoff.core.settings import from_mapping
from handoff.core.tickets import TicketDesk
from tests.support.auth import FAST_SCRYPT_N, PASSWORD
from tests.support.browser import expect
from tests.support.clocks import FakeClock
from tests.support.redis_server import free_port
from tests.support.waiting import wait_until

SECRET = "browser-ticket-inbox-secret-0123456789"
MARKUP = "<img src=x onerror=window.__xss=1> My lamp <b>arrived</b> broken"
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def run(coroutine):
    # In a thread of its own: Playwright's sync API keeps an event loop on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def service(redis_db, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_db,
        "HANDOFF_PORT": str(port),
        "HANDOFF_SECRET": SECRET,
        "RASA_URL": "",
        "HANDOFF_CONFIG": str(tmp_path / "none.yml"),  # every default
    }
    log = (tmp_path / "handoff.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "handoff.service"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    url = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                return response.status == 200
        except OSError:
            return process.poll() is not None and pytest.fail("the service did not start")

    try:
        wait_until(healthy, timeout=30, what="the handoff service")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def seed(redis_url):
    """alice (CSR); a ticket the bot left out of hours; an urgent ticket opened 30 days ago."""

    async def go():
        client = aioredis.from_url(redis_url, decode_responses=True)
        try:
            await Auth(client, SECRET, scrypt_n=FAST_SCRYPT_N).create_account(
                "alice", PASSWORD, "csr", display_name="Alice"
            )
            resources = Resources(from_mapping({"redis_url": redis_url, "secret": SECRET}), client)
            await resources.store.escalate(
                "chat-1",
                "complaint",
                context={"transcript": [{"sender": "customer", "text": MARKUP, "timestamp": 1}]},
            )
            left = await resources.tickets.open_from_conversation(
                "chat-1", "sam@example.com", reason="complaint"
            )
            month_ago = FakeClock(time.time() - 30 * 86400)
            old = TicketDesk(
                client,
                resources.store,
                sla=resources.tickets.sla,
                mail_outbox=resources.mail_outbox,
                resume_links=resources.resume_links,
                secret=SECRET,
                clock=month_ago,
            )
            late = await old.open_by_csr("alice", subject="Courier never called", priority="urgent")
            return left.id, late.id
        finally:
            await client.close()

    return run(go())


def outbox_texts(redis_url, conv_id):
    async def go():
        client = aioredis.from_url(redis_url, decode_responses=True)
        try:
            return [f["message"] for _, f in await client.xrange(f"handoff:outbox:{conv_id}")]
        finally:
            await client.close()

    return run(go())


def test_the_ticket_inbox(browser, service, redis_db):
    left, late = seed(redis_db)
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{service}/console")
        page.locator("#login-username").fill("alice")
        page.locator("#login-password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        # One ticket missed its targets: the top bar says so in red.
        expect(page.locator("#tickets-breached")).to_have_text("1")
        page.get_by_role("button", name="Tickets").click()
        items = page.locator(".ticket-item")
        expect(items).to_have_count(2)
        # The overdue one first, flagged; the customer's markup is text.
        expect(items.first).to_contain_text(late)
        expect(items.first.locator(".badge.breach")).to_have_text("breached")
        expect(items.first.locator(".ticket-due")).to_contain_text("overdue by")
        expect(items.nth(1).locator(".preview")).to_have_text(MARKUP)

        page.get_by_role("button", name=f"Open ticket {left}").click()
        expect(page.locator("#td-subject")).to_have_text(f"{left} · {MARKUP}")
        expect(page.locator("#td-reply-via")).to_have_text("(in the chat)")  # email is off
        page.locator("#td-reply-text").fill("Sorry! A new lamp ships today.")
        page.locator("#td-reply").get_by_role("button", name="Send").click()
        expect(page.locator("#td-thread .t-csr")).to_contain_text("A new lamp ships today.")
        expect(page.locator("#td-meta")).to_contain_text("Pending customer")
        wait_until(
            lambda: any("A new lamp ships today." in m for m in outbox_texts(redis_db, "chat-1")),
            what="the reply in the widget's outbox",
        )
        page.locator("#td-note-text").fill("Replacement <b>sent</b>")
        page.get_by_role("button", name="Add note").click()
        expect(page.locator("#td-notes .note-text-body")).to_have_text("Replacement <b>sent</b>")
        page.locator("#td-status").select_option("solved")
        page.locator("#td-controls").get_by_role("button", name="Save").click()
        expect(page.locator("#td-meta")).to_contain_text("Solved")
        expect(page.locator("#td-reply-text")).to_be_disabled()
        expect(items).to_have_count(1)  # "to do" hides solved tickets

        page.get_by_role("button", name="New ticket").click()
        dialog = page.locator("#ticket-new")
        dialog.locator("#tn-subject").fill("Follow up tomorrow when the courier answers")
        dialog.locator("#tn-note").fill("courier ref 991")
        dialog.get_by_role("button", name="Open ticket").click()
        expect(page.locator("#td-subject")).to_contain_text("Follow up tomorrow")
        expect(page.locator("#td-notes .note-text-body")).to_have_text("courier ref 991")
        expect(items).to_have_count(2)
        page.locator("#tf-breached").check()
        expect(items).to_have_count(1)

        page.get_by_role("button", name="Back to chats").click()
        expect(page.locator("#console-view .layout")).to_be_visible()
        assert page.locator("#tickets-view img").count() == 0
        assert page.evaluate("window.__xss") is None
        assert page.evaluate("window.__csp") == [] and errors == []
    finally:
        context.close()
