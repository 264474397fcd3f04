"""The security headers and checks as a real browser meets them (Chromium, real stack): the demo
store's Content-Security-Policy lets its widget reach Rasa over HTTP and WebSocket and blocks
nothing it needs; the pages' origin passes both sockets' Origin check; the console's Log out
button revokes its token on the server."""

from __future__ import annotations

import pytest

from tests.support.browser import expect, staff_log_in
from tests.support.clients import call
from tests.support.security import PASSWORD, create_account
from tests.support.waiting import wait_until

pytestmark = pytest.mark.model

WAIT_MS = 45_000
# Every Content-Security-Policy violation of the page, as the browser reports it.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def test_the_demo_widget_works_under_the_pages_policy(browser, stack):
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    try:
        response = page.goto(f"{stack.handoff_url}/demo")
        policy = response.headers["content-security-policy"]
        assert f"connect-src 'self' {stack.rasa_url} ws://127.0.0.1:{stack.rasa_port}" in policy
        page.locator(".launcher").click()
        box = page.locator(".composer textarea")
        box.fill("how much is express shipping?")
        box.press("Enter")
        bot = page.locator('.msg[data-sender="bot"][data-id]').last
        expect(bot).to_contain_text("$14.95", timeout=WAIT_MS)
        # The widget's live socket to Rasa opened from the page's origin and stays open.
        widget_socket = wait_until(
            lambda: next((s for s in sockets if "/webhooks/widget/ws" in s.url), None),
            timeout=20,
            what="the widget's WebSocket",
        )
        assert not widget_socket.is_closed()
        assert page.evaluate("window.__csp") == []
    finally:
        context.close()


def test_the_console_log_out_button_revokes_the_token(browser, stack):
    username = create_account(stack, "csr")
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    console = context.new_page()
    try:
        staff_log_in(console, stack, "/console", username, PASSWORD)
        # "Live": the console socket passed the Origin check from the console's own origin.
        expect(console.locator("#live")).to_have_text("Live", timeout=15_000)
        token = console.evaluate("JSON.parse(sessionStorage.getItem('hp-console')).token")
        assert call("GET", f"{stack.handoff_url}/api/me", token=token)[0] == 200

        console.get_by_role("button", name="Log out").click()
        expect(console.get_by_role("button", name="Log in")).to_be_visible()
        wait_until(
            lambda: call("GET", f"{stack.handoff_url}/api/me", token=token)[0] == 401,
            timeout=10,
            what="the token revoked",
        )
        assert console.evaluate("window.__csp") == []
    finally:
        context.close()
