"""A customer in the demo store's widget and a CSR in the console, in real browsers, real stack.

Screenshots of every step go to ``test-artifacts/browser/<test>/``;
``UPDATE_DOC_SCREENSHOTS=1`` also refreshes ``docs/screenshots/``.
"""

from __future__ import annotations

import json
import re
from typing import List, Tuple
from urllib.parse import parse_qs, urlparse

import pytest

from bot.devtools.stack import DEMO_PASSWORD
from tests.support.browser import broken_images_settled, expect, publish_screenshot, staff_log_in
from tests.support.clients import widget_messages
from tests.support.waiting import wait_until

pytestmark = pytest.mark.model

XSS = '<img src=x onerror="window.__pwned=1">'
REPLY = "Hi, I'm Alice from support. I can see order A1002 is on its way - how can I help?"
WAIT_MS = 45_000  # a bot turn runs NLU, the action server and the order store


def say(page, text: str) -> None:
    """Type into the widget and press Enter, as a customer does."""
    box = page.locator(".composer textarea")
    box.fill(text)
    box.press("Enter")
    expect(page.locator(".msg--customer .bubble").last).to_have_text(text)


def last_from(page, sender: str):
    """The newest message from ``sender`` (outbox entries only: not the local greeting)."""
    rendered = "" if sender == "customer" else "[data-id]"
    return page.locator(f'.msg[data-sender="{sender}"]{rendered}').last


def widget_state(page) -> dict:
    return page.evaluate("""() => {
        const key = Object.keys(localStorage).find(k => k.startsWith('harbor-chat:'));
        return key ? JSON.parse(localStorage.getItem(key)) : null;
    }""")


def conversation(page) -> List[Tuple[str, str, str]]:
    """(sender, outbox id or "", text) of every rendered message, in display order."""
    return [
        tuple(row)
        for row in page.evaluate("""() => {
        const root = document.querySelector('harbor-chat-widget').shadowRoot;
        return [...root.querySelectorAll('.log .msg')].map(m => [
            m.dataset.sender, m.dataset.id || '',
            (m.querySelector('.bubble') || {textContent: ''}).textContent]);
    }""")
    ]


def shows_the_whole_outbox(page, stack) -> List[str]:
    """Wait until the widget draws every outbox entry the server holds, once each and in order
    (frames still in flight have landed); return their ids."""
    token = widget_state(page)["token"]

    def drawn_as_served():
        served = [m["id"] for m in widget_messages(stack.rasa_url, token)]
        drawn = page.evaluate("""() => {
            const root = document.querySelector('harbor-chat-widget').shadowRoot;
            return [...root.querySelectorAll('.log .msg[data-id]')].map(m => m.dataset.id);
        }""")
        return served if drawn == served else None

    return wait_until(drawn_as_served, timeout=15, interval=0.1, what="the outbox drawn once")


def log_in(console, stack, username: str) -> None:
    staff_log_in(console, stack, "/console", username)
    expect(console.locator("#live")).to_have_text("Live", timeout=15_000)


def open_demo(browser, stack, **context_args):
    context = browser.new_context(**context_args)
    page = context.new_page()
    page.goto(f"{stack.handoff_url}/demo")
    return context, page


def test_pages_are_served_without_login(stack):
    import urllib.request

    from tests.support.clients import call

    with urllib.request.urlopen(f"{stack.handoff_url}/demo", timeout=10) as response:
        page = response.read().decode()
    assert f'data-server="{stack.rasa_url}"' in page
    assert '<script src="/static/widget.js"' in page
    with urllib.request.urlopen(f"{stack.handoff_url}/", timeout=10) as response:
        assert response.url.endswith("/demo")  # redirected
    with urllib.request.urlopen(f"{stack.handoff_url}/console", timeout=10) as response:
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for name, kind in (
        ("widget.js", "javascript"),
        ("staff-kit.js", "javascript"),
        ("console.js", "javascript"),
        ("console.css", "text/css"),
    ):
        with urllib.request.urlopen(f"{stack.handoff_url}/static/{name}", timeout=10) as response:
            assert kind in response.headers["Content-Type"]
    for bad in ("..%2Fapp.py", "nope.js", ".hidden.js", "pages.py", "console.html"):
        status, body = call("GET", f"{stack.handoff_url}/static/{bad}")
        assert status == 404 and body["error"]["code"] == "not_found", bad


def test_widget_is_isolated_accessible_and_fits_a_phone(browser, stack, shots):
    context, page = open_demo(browser, stack, viewport={"width": 375, "height": 740})
    try:
        launcher = page.locator(".launcher")
        expect(launcher).to_have_attribute("aria-label", "Open chat with Harbor & Pine")
        expect(launcher).to_have_attribute("aria-expanded", "false")
        shots("phone-closed", page)

        # Keyboard only: focus the launcher, Enter opens, focus lands in the composer.
        launcher.focus()
        page.keyboard.press("Enter")
        window = page.locator(".window")
        expect(window).to_be_visible()
        expect(window).to_have_attribute("role", "dialog")
        expect(page.locator(".log")).to_have_attribute("role", "log")
        expect(page.locator(".log")).to_have_attribute("aria-live", "polite")
        box = page.locator(".composer textarea")
        expect(box).to_be_focused()
        assert box.evaluate("el => el.labels[0].textContent") == "Type your message"
        expect(page.locator(".send")).to_have_attribute("aria-label", "Send message")
        expect(page.locator(".msg--greeting")).to_have_text("Assistant:Hi! How can I help?")

        # Usable at 375 px: the window fills the screen.
        frame = window.bounding_box()
        assert frame["width"] == 375 and frame["x"] == 0

        # The store's CSS (Georgia, uppercase buttons) does not reach into the widget ...
        assert "Georgia" not in box.evaluate("el => getComputedStyle(el).fontFamily")
        assert page.locator(".send").evaluate("el => getComputedStyle(el).textTransform") == "none"
        # ... and the widget's CSS (.title, .bubble) does not reach the store.
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.hero .title')).color")
            == "rgb(59, 47, 34)"
        )
        assert (
            page.evaluate(
                "getComputedStyle(document.querySelector('#help .bubble')).backgroundColor"
            )
            == "rgb(255, 255, 255)"
        )

        # A very long word wraps instead of widening the window.
        say(page, "x" * 300)
        bubble = page.locator(".msg--customer .bubble").last
        assert bubble.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
        assert bubble.bounding_box()["width"] <= 375
        expect(last_from(page, "bot")).to_be_visible(timeout=WAIT_MS)
        shots("phone-open", page)

        # Escape closes and gives focus back to the launcher.
        page.keyboard.press("Escape")
        expect(window).to_be_hidden()
        expect(launcher).to_be_focused()
    finally:
        context.close()


def test_customer_and_csr_chat_through_handoff_and_a_reload_keeps_everything(browser, stack, shots):
    customer_context, shop = open_demo(browser, stack, viewport={"width": 1280, "height": 860})
    csr_context = browser.new_context(viewport={"width": 1440, "height": 900})
    console = csr_context.new_page()
    try:
        # --- the customer asks the bot about an order -------------------------------------
        shots("demo-store", shop)
        shop.locator(".launcher").click()
        expect(shop.locator(".composer textarea")).to_be_focused()
        say(shop, "where is my order?")
        expect(last_from(shop, "bot")).to_contain_text("order number", timeout=WAIT_MS)
        say(shop, "A1002")
        expect(last_from(shop, "bot")).to_contain_text("postcode", timeout=WAIT_MS)
        say(shop, "94107")
        expect(shop.locator(".log")).to_contain_text("FedEx", timeout=WAIT_MS)
        expect(shop.locator(".msg--pending")).to_have_count(0, timeout=WAIT_MS)
        expect(shop.locator(".typing")).to_be_hidden()
        store_shot = shots("order-status-answered", shop)
        publish_screenshot(store_shot, "demo-store.png")

        say(shop, "I want to talk to a real person")
        expect(last_from(shop, "bot")).to_contain_text("queue", timeout=WAIT_MS)
        conv_id = widget_state(shop)["conversationId"]
        shots("waiting-in-queue", shop)

        # --- a CSR logs in, sees the queue, claims --------------------------------------------
        log_in(console, stack, "alice")
        item = console.locator(f'.q-item[data-id="{conv_id}"]')
        expect(item).to_be_visible(timeout=15_000)
        expect(item.locator(".reason")).to_have_text("request human")
        expect(item.locator(".preview")).to_have_text("I want to talk to a real person")
        shots("console-queue", console)

        item.locator(".claim-btn").click()
        panel = console.locator(".panel:not([hidden])")
        expect(panel.locator(".conv-state")).to_have_text("With alice (you)")
        expect(item).to_be_hidden()
        transcript = panel.locator(".transcript")
        expect(transcript).to_contain_text("where is my order?")
        customer_lines = transcript.locator(".t-customer")
        expect(customer_lines.first.locator(".t-intent")).to_contain_text("order_status")
        expect(panel.locator(".escalation")).to_contain_text("request human")
        expect(panel.locator(".order")).to_contain_text("A1002")
        expect(shop.locator(".log")).to_contain_text("has joined the chat")

        # Canned responses: search, pick one, it lands in the reply box.
        panel.locator(".canned-search").fill("shipping")
        first = panel.locator(".canned-results button").first
        expect(first).to_be_visible()
        first.click()
        assert panel.locator(".reply-text").input_value().strip()
        panel.locator(".reply-text").fill("")

        # Typing reaches the customer; then the reply, with the CSR's name.
        panel.locator(".reply-text").press_sequentially("Hi")
        expect(shop.locator(".typing")).to_contain_text("is typing", timeout=10_000)
        panel.locator(".reply-text").fill(REPLY)
        panel.locator(".reply-text").press("Enter")
        expect(last_from(shop, "csr").locator(".bubble")).to_have_text(REPLY, timeout=15_000)
        expect(last_from(shop, "csr").locator(".who")).to_have_text("Alice (CSR)")
        expect(shop.locator(".subtitle")).to_have_text("You're talking to Alice (CSR)")
        expect(transcript.locator(".t-csr").last).to_contain_text(REPLY)
        shots("customer-sees-csr-reply", shop)

        panel.locator(".note-text").fill("Asked about A1002; tracking looks fine.")
        panel.locator(".note-btn").click()
        expect(panel.locator(".notes")).to_contain_text("tracking looks fine")
        panel.locator(".context").evaluate("el => { el.scrollTop = 0; }")
        # The "you have it" toast fades out before the screenshot.
        toast = console.locator("#toast")
        expect(toast).not_to_have_class(re.compile(r"\bshow\b"), timeout=10_000)
        expect(toast).to_have_css("opacity", "0")
        console_shot = shots("console-claimed-conversation", console)
        publish_screenshot(console_shot, "console.png")

        # --- a hostile message is text in both pages ---------------------------------------
        say(shop, XSS)
        expect(transcript.locator(".t-customer .t-text").last).to_have_text(XSS, timeout=15_000)
        expect(last_from(shop, "customer").locator(".bubble")).to_have_text(XSS)
        assert shop.locator(".log img").count() == 0
        assert console.locator(".transcript img").count() == 0
        broken_images_settled(shop)  # an onerror handler would have fired by now
        broken_images_settled(console)
        assert shop.evaluate("window.__pwned") is None
        assert console.evaluate("window.__pwned") is None
        shots("hostile-message-as-text", console)

        # --- unread badge while minimised --------------------------------------------------
        shop.locator(".icon-btn[aria-label='Minimise chat']").click()
        expect(shop.locator(".launcher")).to_be_focused()
        panel.locator(".reply-text").fill("Are you still there?")
        panel.locator(".send-btn").click()
        expect(shop.locator(".badge")).to_have_text("1", timeout=15_000)
        expect(shop.locator(".launcher")).to_have_attribute(
            "aria-label", "Open chat with Harbor & Pine (1 unread message)"
        )
        shots("unread-badge", shop)
        shop.locator(".launcher").click()
        expect(shop.locator(".badge")).to_be_hidden()

        # --- the CSR hands back to the bot ---------------------------------------------------
        panel.get_by_role("button", name="Release to bot").click()
        expect(panel.locator(".conv-state")).to_have_text("With the bot", timeout=15_000)
        expect(last_from(shop, "bot")).to_contain_text("Hi again", timeout=WAIT_MS)
        expect(shop.locator(".subtitle")).to_contain_text("Virtual assistant")
        shots("released-to-bot", shop)

        # --- reload: the whole conversation is redrawn, nothing twice ------------------------
        server_ids = shows_the_whole_outbox(shop, stack)
        before = conversation(shop)
        ids = [row[1] for row in before if row[1]]
        assert ids == server_ids
        with shop.expect_websocket(timeout=15_000) as reconnected:
            shop.reload()
        expect(shop.locator(".window")).to_be_visible()  # it stays open across reloads
        expect(shop.locator(".msg[data-id]")).to_have_count(len(ids), timeout=15_000)
        # The socket picks up after the newest entry drawn and the server has nothing newer:
        # its backlog is empty, so nothing can arrive twice.
        [resumed_after] = parse_qs(urlparse(reconnected.value.url).query)["after"]
        assert resumed_after == ids[-1]
        assert widget_messages(stack.rasa_url, widget_state(shop)["token"], resumed_after) == []
        after = conversation(shop)
        assert after == before, json.dumps({"before": before, "after": after}, indent=1)
        texts = [row[2] for row in after]
        for said in (
            "where is my order?",
            "A1002",
            "94107",
            "I want to talk to a real person",
            REPLY,
            XSS,
            "Are you still there?",
        ):
            assert texts.count(said) == 1, said
        assert shop.evaluate("window.__pwned") is None
        shots("after-reload", shop)
    finally:
        customer_context.close()
        csr_context.close()


def test_queue_announces_new_chats_turns_late_waits_red_and_a_lost_claim_says_so(
    browser, stack, shots
):
    from tests.support.clients import Csr, WidgetCustomer

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    console = context.new_page()
    try:
        console.clock.install()  # so the test can move the console's time past the SLA
        log_in(console, stack, "admin")
        customer = WidgetCustomer(stack.rasa_url)
        customer.says("I want to talk to a person")
        item = console.locator(f'.q-item[data-id="{customer.conversation_id}"]')
        expect(item).to_be_visible(timeout=15_000)
        expect(console).to_have_title(re.compile(r"^\(\d+\) New in queue"))
        expect(item).not_to_have_class(re.compile("sla-breach"))

        console.clock.fast_forward("03:00")  # sla_seconds is 120
        expect(item).to_have_class(re.compile("sla-breach"))
        expect(item.locator(".wait")).to_have_class(re.compile("late"))
        expect(item.locator(".wait")).to_have_css("color", "rgb(176, 0, 32)")
        shots("late-wait", console)

        # Another CSR is faster; this console has not re-read the queue yet (its reads fail).
        console.route("**/api/queue", lambda route: route.abort())
        alice = Csr(stack.handoff_url, "alice", DEMO_PASSWORD)
        assert alice.post(f"/conversations/{customer.conversation_id}/claim")[0] == 200
        item.locator(".claim-btn").click()
        expect(item.locator(".q-status")).to_have_text("Someone else claimed it.")
        expect(console.locator("#toast")).to_have_text("Someone else claimed it.")
        shots("someone-else-claimed-it", console)
    finally:
        context.close()


def test_widget_reconnects_after_a_drop_and_shows_nothing_twice(browser, stack, shots):
    from tests.support.clients import Csr

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    shop = context.new_page()
    sockets = []

    def through(ws):
        ws.connect_to_server()  # a transparent proxy the test can cut
        sockets.append(ws)

    shop.route_web_socket(re.compile(r"/webhooks/widget/ws"), through)
    try:
        shop.goto(f"{stack.handoff_url}/demo")
        shop.locator(".launcher").click()
        say(shop, "I want to talk to a person")
        expect(last_from(shop, "bot")).to_contain_text("queue", timeout=WAIT_MS)
        conv_id = widget_state(shop)["conversationId"]
        csr = Csr(stack.handoff_url, "alice", DEMO_PASSWORD)
        assert csr.post(f"/conversations/{conv_id}/claim")[0] == 200
        assert csr.post(f"/conversations/{conv_id}/messages", {"text": "first"})[0] == 201
        expect(last_from(shop, "csr")).to_contain_text("first", timeout=15_000)
        assert len(sockets) == 1

        sockets[0].close(code=4000, reason="network hiccup")  # the connection drops
        assert csr.post(f"/conversations/{conv_id}/messages", {"text": "second"})[0] == 201
        expect(last_from(shop, "csr")).to_contain_text("second", timeout=20_000)
        assert len(sockets) >= 2  # it reconnected by itself
        assert csr.post(f"/conversations/{conv_id}/messages", {"text": "third"})[0] == 201
        expect(last_from(shop, "csr")).to_contain_text("third", timeout=15_000)
        # "third" came live after the reconnected socket's backlog: once every entry is drawn,
        # a backlog that repeated messages would already show them.
        shows_the_whole_outbox(shop, stack)
        rows = conversation(shop)
        ids = [row[1] for row in rows if row[1]]
        assert len(ids) == len(set(ids)), rows
        texts = [row[2] for row in rows]
        assert [texts.count(t) for t in ("first", "second", "third")] == [1, 1, 1], rows
        shots("after-reconnect", shop)
    finally:
        context.close()


def test_closing_with_a_resolution_asks_the_customer_and_shows_the_rating(browser, stack, shots):
    customer_context, shop = open_demo(browser, stack, viewport={"width": 1280, "height": 860})
    csr_context = browser.new_context(viewport={"width": 1440, "height": 900})
    console = csr_context.new_page()
    try:
        shop.locator(".launcher").click()
        say(shop, "I'd like to speak to a human please")
        expect(last_from(shop, "bot")).to_contain_text("queue", timeout=WAIT_MS)
        conv_id = widget_state(shop)["conversationId"]

        log_in(console, stack, "alice")
        console.locator(f'.q-item[data-id="{conv_id}"] .claim-btn').click()
        panel = console.locator(".panel:not([hidden])")
        expect(panel.locator(".conv-state")).to_have_text("With alice (you)")
        panel.locator(".close-resolution").fill("order_located")
        panel.get_by_role("button", name="Close chat").click()
        expect(panel.locator(".conv-state")).to_have_text("Closed", timeout=15_000)
        expect(panel.locator(".outcome")).to_contain_text("order_located")
        expect(panel.locator(".reply-text")).to_be_disabled()

        # "Did that solve it?" first (handoff/core/followup.py); the rating follows the answer.
        question = shop.locator('.msg[data-kind="followup_request"]')
        expect(question).to_be_visible(timeout=15_000)
        question.get_by_role("button", name="Yes").click()
        rating = shop.locator('.msg[data-kind="csat_request"]')
        expect(rating).to_be_visible(timeout=15_000)
        shots("rating-question", shop)
        rating.get_by_role("button", name="4").click()
        expect(last_from(shop, "bot")).to_contain_text(
            "Thank you for your feedback", timeout=15_000
        )
        expect(rating.get_by_role("button", name="5")).to_be_disabled()  # answered
        expect(panel.locator(".csat-value")).to_have_text("★★★★☆ 4/5", timeout=15_000)
        shots("console-shows-rating", console)
    finally:
        customer_context.close()
        csr_context.close()


def test_transfer_hands_the_conversation_to_another_csr(browser, stack, shots):
    from tests.support.clients import WidgetCustomer

    customer = WidgetCustomer(stack.rasa_url)
    customer.says("I want to talk to a person")
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    console = context.new_page()
    try:
        log_in(console, stack, "alice")
        console.locator(f'.q-item[data-id="{customer.conversation_id}"] .claim-btn').click()
        panel = console.locator(".panel:not([hidden])")
        expect(panel.locator(".conv-state")).to_have_text("With alice (you)")
        panel.get_by_label("Transfer to (username)").fill("admin")
        panel.get_by_role("button", name="Transfer").click()
        expect(panel.locator(".conv-state")).to_have_text("With admin", timeout=15_000)
        expect(panel.locator(".reply-text")).to_be_disabled()
        shots("transferred", console)
        assert any(
            "now chatting with Store admin" in m["text"] for m in customer.messages_after(None)
        )
    finally:
        context.close()
