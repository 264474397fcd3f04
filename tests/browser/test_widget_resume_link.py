"""The widget opened from a mail's resume link, in Chromium, against a real widget channel.

No trained model: the widget channel runs with a stand-in bot and the handoff service serves
the demo page, both on the session's Redis, on an event loop in a thread of their own
(Playwright's sync API keeps the main thread's). The whole product's version of this, from
the customer's ticket to the mail, is the acceptance test on the stack.
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import AsyncExitStack, contextmanager

import pytest
from sanic import Sanic, response

from bot.channel.widget import WidgetInput, WidgetSettings
from handoff.core.resume_links import ResumeLinks
from handoff.core.settings import HandoffConfig, from_mapping
from handoff.service.app import create_app
from tests.support.auth import PASSWORD, SECRET
from tests.support.browser import expect
from tests.support.redis_server import free_port
from tests.support.sanic_server import serving as serve_app
from tests.support.widget import FakeBot

WAIT_MS = 10_000
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept",
}


class Servers:
    """The widget channel and the handoff service, on a loop in a background thread."""

    def __init__(self, redis_url):
        self.redis_url = redis_url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stack = AsyncExitStack()

    def run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self):
        shared = HandoffConfig(redis_url=self.redis_url, secret=SECRET, allowed_origins=("*",))
        self.channel = WidgetInput(WidgetSettings(shared=shared))
        self.widget_url = await self.stack.enter_async_context(serve_app(self._widget_app()))
        config = from_mapping(
            {"secret": SECRET, "redis_url": self.redis_url, "rasa_url": self.widget_url}
        )
        self.handoff_url = await self.stack.enter_async_context(serve_app(create_app(config)))

    def _widget_app(self):
        """The channel's blueprint as Rasa serves it with ``--cors "*"`` (as ``make run`` does)."""
        app = Sanic(f"widget_resume_{free_port()}")
        app.blueprint(self.channel.blueprint(FakeBot().handle), url_prefix="/webhooks/widget")

        @app.middleware("request")
        async def preflight(request):
            if request.method == "OPTIONS":
                return response.empty(headers=CORS)

        @app.middleware("response")
        async def cors(request, resp):
            resp.headers.update(CORS)

        return app

    async def _stop(self):
        await self.stack.aclose()
        await self.channel.close()


@contextmanager
def running(redis_url):
    servers = Servers(redis_url)
    servers.thread.start()
    servers.run(servers._start())
    try:
        yield servers
    finally:
        servers.run(servers._stop())
        servers.loop.call_soon_threadsafe(servers.loop.stop)
        servers.thread.join(10)


async def ticket_with_answer(channel):
    """A chat that became a ticket, the CSR's answer in it and a reply by mail."""
    conv_id = "resume-" + str(int(time.time() * 1000))
    await channel.outbox.append(conv_id, {"sender": "bot", "text": "Hello, I am the assistant."})
    now = time.time()
    transcript = [{"sender": "customer", "text": "Where is my parcel?", "timestamp": now}]
    await channel.store.escalate(conv_id, "request_human", context={"transcript": transcript})
    tickets = channel.resources.tickets
    ticket = await tickets.open_from_conversation(
        conv_id, "ann@example.com", reason="request_human"
    )
    auth = channel.resources.auth
    if await auth.get_account("alice") is None:
        await auth.create_account("alice", PASSWORD, "csr", display_name="Alice")
    await tickets.reply(ticket.id, "alice", "It left our warehouse today.")
    await tickets.customer_replied(ticket.id, "Great, thank you!", via="email")
    return conv_id, ticket.id


@pytest.fixture(scope="module")
def servers(redis_url):
    with running(redis_url) as started:
        yield started


def test_the_link_opens_the_widget_with_the_whole_thread(browser, servers, shots):
    conv_id, ticket_id = servers.run(ticket_with_answer(servers.channel))
    links = ResumeLinks(SECRET, page_url=f"{servers.handoff_url}/demo", ttl_seconds=3600)
    context = browser.new_context()
    page = context.new_page()
    page.goto(links.url(conv_id, ticket_id))

    expect(page.locator(".window")).to_be_visible(timeout=WAIT_MS)  # opened for the thread
    log = page.locator(".log")
    expect(log).to_contain_text("Hello, I am the assistant.", timeout=WAIT_MS)
    csr = page.locator('.msg[data-sender="csr"]').last
    expect(csr).to_contain_text("It left our warehouse today.", timeout=WAIT_MS)
    expect(csr).to_contain_text("Alice")
    # An answer to the ticket, not a live chat: the label says so and the header claims nobody.
    expect(csr.locator(".who")).to_have_text(f"Alice answered your ticket {ticket_id}")
    expect(page.locator(".subtitle")).to_contain_text("Virtual assistant")
    customer = page.locator(".msg--customer .bubble")
    expect(customer).to_have_text(["Where is my parcel?", "Great, thank you!"], timeout=WAIT_MS)
    expect(page.locator('.msg--customer[data-via="email"]')).to_contain_text("by email")
    shots("resumed-thread", page)

    assert "resume=" not in page.url  # out of the address bar at once
    stored = page.evaluate("() => JSON.stringify(window.localStorage)")
    assert conv_id in stored and "resume=" not in stored

    # A reload is an ordinary return: the same conversation, the same thread.
    page.reload()
    expect(page.locator('.msg[data-sender="csr"]').last).to_contain_text(
        "It left our warehouse today.", timeout=WAIT_MS
    )
    expect(page.locator(".msg--customer .bubble")).to_have_count(2)
    context.close()


def test_a_broken_link_says_so_and_the_chat_still_works(browser, servers):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{servers.handoff_url}/demo#resume=not-a-token")
    expect(page.locator(".notice")).to_have_text(
        "That link could not be opened. Write to us here.", timeout=WAIT_MS
    )
    assert "resume=" not in page.url
    page.locator(".composer textarea").fill("hello")
    page.locator(".composer textarea").press("Enter")
    expect(page.locator('.msg[data-sender="bot"] .bubble').last).to_have_text(
        "echo: hello", timeout=WAIT_MS
    )
    context.close()
