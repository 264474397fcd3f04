"""Issue #17's acceptance, in real browsers on the real stack: a case the bot could not finish,
from a ticket left while nobody is at work to a solved ticket on the support lead's metrics.

1. With the team away, the customer asks for a person and leaves a ticket with an email.
2. Alice sees it in the console's ticket inbox and replies.
3. The reply reaches the SMTP server (aiosmtpd) with a signed resume link.
4. The customer opens the link in another browser: the widget shows the whole thread.
5. Alice solves the ticket.
6. The admin's metrics page counts it as solved.

The team is set away with the admin's switch: the stack's business hours are around the
clock, and away is the same path for the customer (the ticket form) as a night or a Sunday.
Screenshots of every step go to ``test-artifacts/browser/<test>/``; with
``UPDATE_DOC_SCREENSHOTS=1`` the ones docs/tickets.md shows are refreshed.
"""

from __future__ import annotations

import re
import time

import pytest

from bot.devtools.stack import DEMO_PASSWORD
from tests.support.browser import expect, publish_screenshot, staff_log_in
from tests.support.clients import Csr, call

pytestmark = pytest.mark.model

WAIT_MS = 45_000  # a bot turn runs NLU, the action server and Redis
AWAY = "Our team is away for the evening."
REPLY = "Hi Sam, the courier confirmed your parcel is at the depot and arrives tomorrow."
LINK = re.compile(r"https?://\S+#resume=[A-Za-z0-9._-]+")


def say(page, text: str) -> None:
    box = page.locator(".composer textarea")
    box.fill(text)
    box.press("Enter")
    expect(page.locator(".msg--customer .bubble").last).to_have_text(text)


def bot_says(page, text: str) -> None:
    """Wait for a bot message containing ``text`` (a turn may answer in several bubbles)."""
    said = page.locator('.msg[data-sender="bot"] .bubble', has_text=text)
    expect(said.last).to_be_visible(timeout=WAIT_MS)


def solved_so_far(admin: Csr) -> int:
    status, body = admin.get("/metrics/series?bucket=day")
    assert status == 200, body
    return body["totals"]["tickets_solved"]


def ticket_of(admin: Csr, email: str) -> dict:
    status, body = admin.get("/tickets?status=open")
    assert status == 200, body
    found = [t for t in body["tickets"] if t.get("email") == email]
    assert len(found) == 1, body
    return found[0]


@pytest.fixture
def team_away(stack):
    admin = Csr(stack.handoff_url, "admin", DEMO_PASSWORD)
    status, body = call("PUT", f"{admin.base}/availability", {"message": AWAY}, admin.token)
    assert status == 200, body
    try:
        yield admin
    finally:
        status, body = call("DELETE", f"{admin.base}/availability", None, admin.token)
        assert status == 200, body


def test_a_ticket_left_out_of_hours_is_answered_by_email_resumed_and_solved(
    browser, stack, smtp_server, team_away, shots
):
    admin = team_away
    email = f"sam.rivera+{int(time.time() * 1000)}@example.com"
    customer = browser.new_context()
    console = browser.new_context()
    later = browser.new_context()  # the customer's phone, where the mail is read
    try:
        # 1. Out of hours (the team away), the customer leaves a ticket.
        chat = customer.new_page()
        chat.goto(f"{stack.handoff_url}/demo")
        chat.locator(".launcher").click()
        say(chat, "I want to talk to a real person")
        bot_says(chat, AWAY)
        bot_says(chat, "What email address should we reply to?")
        say(chat, email)
        bot_says(chat, f"will email you at {email}")
        shots("customer-leaves-a-ticket", chat)

        # 2. Alice sees it in the inbox and replies.
        solved_before = solved_so_far(admin)
        desk = console.new_page()
        staff_log_in(desk, stack, "/console", "alice")
        expect(desk.locator("#live")).to_have_text("Live", timeout=15_000)
        desk.get_by_role("button", name="Tickets").click()
        ticket_id = ticket_of(admin, email)["id"]
        opener = desk.get_by_role("button", name=f"Open ticket {ticket_id}")
        expect(opener).to_be_visible(timeout=15_000)
        publish_screenshot(shots("inbox", desk), "tickets-inbox.png")
        opener.click()
        expect(desk.locator("#td-reply-via")).to_contain_text("email")
        desk.locator("#td-reply-text").fill(REPLY)
        desk.locator("#td-reply").get_by_role("button", name="Send").click()
        expect(desk.locator("#td-thread .t-csr")).to_contain_text(REPLY)
        expect(desk.locator("#td-meta")).to_contain_text("Pending customer")
        publish_screenshot(shots("ticket-answered", desk), "tickets-detail.png")

        # 3. The mail arrives at the SMTP server, with the resume link.
        mail = smtp_server.wait_for(lambda m: email in m.rcpt_tos, timeout=30)
        assert f"[{ticket_id}]" in mail.message["Subject"]
        assert REPLY in mail.text
        link = LINK.search(mail.text)
        assert link, mail.text
        assert link.group(0).startswith(f"{stack.handoff_url}/demo#resume=")

        # 4. The customer opens the link elsewhere: the widget shows the whole thread.
        phone = later.new_page()
        phone.goto(link.group(0))
        expect(phone.locator(".window")).to_be_visible(timeout=WAIT_MS)
        expect(phone.locator('.msg[data-sender="csr"] .bubble').last).to_contain_text(REPLY)
        expect(phone.locator(".msg--customer .bubble").first).to_have_text(
            "I want to talk to a real person"
        )
        expect(phone.locator('.msg[data-sender="bot"] .bubble', has_text=AWAY)).to_have_count(1)
        assert "resume=" not in phone.url
        publish_screenshot(shots("thread-resumed", phone), "tickets-resumed.png")

        # 5. Alice solves the ticket.
        desk.locator("#td-status").select_option("solved")
        desk.locator("#td-controls").get_by_role("button", name="Save").click()
        expect(desk.locator("#td-meta")).to_contain_text("Solved")

        # 6. The metrics page counts it.
        lead = console.new_page()
        staff_log_in(lead, stack, "/metrics", "admin")
        expect(lead.locator("[data-tile=solved] .tile-value")).to_have_text(
            str(solved_before + 1), timeout=15_000
        )
        publish_screenshot(shots("metrics", lead, full_page=True), "metrics.png")
    finally:
        for context in (customer, console, later):
            context.close()
