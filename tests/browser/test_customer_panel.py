"""The console's Customer section in headless Chromium against the real stack: a verified
customer's history and orders, "Not verified" for a customer who proved nothing, under the
console's Content-Security-Policy."""

from __future__ import annotations

import pytest

from bot.devtools.stack import DEMO_PASSWORD
from tests.integration.test_customer_history import verified_customer_waiting
from tests.support.browser import expect, open_console_tab, staff_log_in
from tests.support.clients import Csr, WidgetCustomer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.model

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def test_the_side_panel_shows_the_verified_customer(browser, stack, shots):
    customer = verified_customer_waiting(stack)
    stranger = WidgetCustomer(stack.rasa_url)
    assert "queue" in stranger.says("I want to talk to a real person")
    csr = Csr(stack.handoff_url, "alice", DEMO_PASSWORD)
    wait_until(lambda: any(c["id"] == stranger.conversation_id for c in csr.queue()))
    context = browser.new_context(viewport={"width": 1440, "height": 1200})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    try:
        staff_log_in(page, stack, "/console", "alice")
        expect(page.locator("#queue-title")).to_be_visible()
        open_console_tab(page, customer.conversation_id)
        section = page.locator("section.panel:visible .customer")
        expect(section).to_contain_text("This conversation", timeout=30_000)
        expect(section).to_contain_text("A1002")
        shots("customer-panel", page)

        open_console_tab(page, stranger.conversation_id)
        expect(section).to_contain_text("Not verified", timeout=30_000)
        assert page.evaluate("window.__csp") == []
    finally:
        context.close()
