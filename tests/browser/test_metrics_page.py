"""The metrics page in headless Chromium against the real stack: charts drawn from the API's
figures under the page's Content-Security-Policy, and a filter change reloading them.

``UPDATE_DOC_SCREENSHOTS=1`` also refreshes ``docs/screenshots/metrics.png``.
"""

from __future__ import annotations

import re

import pytest

from bot.devtools.stack import DEMO_PASSWORD
from tests.support.browser import expect, publish_screenshot, staff_log_in
from tests.support.clients import Csr, WidgetCustomer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.model

CHARTS = ("chart-volume", "chart-resolution", "chart-sla", "chart-csat", "chart-waits")
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""
# What each chart holds: its number of labels and of data points, or null if it was not drawn.
CHART_STATE = """ids => ids.map(id => {
    const chart = window.Chart.getChart(document.getElementById(id));
    return chart ? [chart.data.labels.length, chart.data.labels[0],
                    chart.data.datasets.map(d => d.data.length)] : null;
})"""


def served_conversation(stack) -> None:
    """A customer asks for a person; the admin claims, answers and closes it, and opens a
    ticket to follow the case up."""
    customer = WidgetCustomer(stack.rasa_url)
    customer.says("I want to talk to a real person")
    admin = Csr(stack.handoff_url, "admin", DEMO_PASSWORD)
    conv_id = customer.conversation_id
    wait_until(lambda: any(c["id"] == conv_id for c in admin.queue()))
    for path, body in (
        ("claim", None),
        ("messages", {"text": "Hello, how can I help?"}),
        ("close", {"resolution": "solved"}),
    ):
        status, answer = admin.post(f"/conversations/{conv_id}/{path}", body)
        assert status in (200, 201), answer
    status, answer = admin.post("/tickets", {"subject": "Lamp arrived broken", "priority": "high"})
    assert status == 201, answer


def test_metrics_page_draws_the_charts_and_reloads_on_a_filter(browser, stack, shots):
    served_conversation(stack)
    context = browser.new_context(viewport={"width": 1440, "height": 1400})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    try:
        staff_log_in(page, stack, "/metrics", "admin")
        status = page.locator("#metrics-status")
        expect(status).to_have_attribute("data-query", "bucket=day")
        charts = page.evaluate(CHART_STATE, list(CHARTS))
        assert all(chart and chart[0] == 30 for chart in charts), charts
        today = page.evaluate(
            "() => window.Chart.getChart(document.getElementById('chart-volume'))"
            ".data.datasets[0].data.at(-1)"
        )
        assert today >= 1  # the conversation just served
        expect(page.locator("[data-tile=containment] .tile-value")).to_contain_text("%")
        expect(page.locator("[data-tile=backlog] .tile-value")).to_have_text(re.compile(r"^[1-9]"))
        expect(page.locator("#backlog-body td", has_text="high")).to_have_count(1)
        expect(page.locator("#csr option[value=admin]")).to_have_count(1)
        publish_screenshot(shots("metrics-by-day", page, full_page=True), "metrics.png")

        page.locator("#bucket").select_option("week")
        expect(status).to_have_attribute("data-query", "bucket=week")
        charts = page.evaluate(CHART_STATE, list(CHARTS))
        assert all(chart[0] == 12 and chart[1].startswith("Week of") for chart in charts), charts

        page.locator("#csr").select_option("admin")
        expect(status).to_have_attribute("data-query", "bucket=week&csr=admin")
        expect(page.locator("[data-tile=conversations] .tile-value")).to_have_text("—")
        expect(page.locator("#filter-note")).to_be_visible()
        shots("metrics-by-week-for-admin", page)
        assert page.evaluate("window.__csp") == []
    finally:
        context.close()
