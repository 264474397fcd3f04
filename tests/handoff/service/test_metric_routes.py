"""The metrics API and page over real sockets: Sanic server, real Redis, samples from the store."""

from __future__ import annotations

import pytest
import pytest_asyncio

from handoff.core.store import HandoffStore
from tests.support.handoff_api import error_code, running, service_config

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(redis_url, rasa_server):
    config = service_config(redis_url, rasa_server, business_hours={"timezone": "Europe/Berlin"})
    async with running(config) as served:
        yield served


@pytest.fixture
def bot(redis_client):
    return HandoffStore(redis_client)


async def serve(bot, conv_id, csr, reason):
    await bot.escalate(conv_id, reason)
    await bot.claim(conv_id, csr)
    await bot.record_csr_message(conv_id, csr, "hi")
    await bot.close(conv_id, "solved", by=csr)
    await bot.set_csat(conv_id, 5)


async def test_series_by_day_and_week_with_filters(api, tokens, bot):
    await serve(bot, "c1", "alice", "complaint")
    await serve(bot, "c2", "bob", "request_human")
    status, body = await api.call("GET", "/api/metrics/series", token=tokens["root"])
    assert status == 200, body
    assert body["bucket"] == "day" and len(body["buckets"]) == 30
    assert body["timezone"] == "Europe/Berlin"
    today = body["buckets"][-1]
    assert today["conversations"] == 2 and today["csat"] == {"average": 5.0, "count": 2}
    assert body["choices"] == {"reasons": ["complaint", "request_human"], "csrs": ["alice", "bob"]}
    assert body["backlog"]["count"] == 0

    status, body = await api.call(
        "GET", "/api/metrics/series?bucket=week&csr=alice&reason=complaint", token=tokens["root"]
    )
    assert status == 200 and len(body["buckets"]) == 12
    assert body["totals"]["queue_wait_seconds"]["count"] == 1
    assert body["totals"]["conversations"] is None and body["csr"] == "alice"


async def test_series_range_of_dates(api, tokens):
    status, body = await api.call(
        "GET", "/api/metrics/series?since=2024-03-30&until=2024-04-01", token=tokens["root"]
    )
    assert status == 200
    assert [b["start"] for b in body["buckets"]] == ["2024-03-30", "2024-03-31", "2024-04-01"]
    # Berlin moves its clocks forward on 2024-03-31: that day has 23 hours
    assert body["buckets"][1]["end_at"] - body["buckets"][1]["start_at"] == 23 * 3600
    assert body["since"] == body["buckets"][0]["start_at"]
    assert body["until"] == body["buckets"][-1]["end_at"]  # a date includes its whole day


@pytest.mark.parametrize(
    "query,message",
    [
        ("bucket=month", "`bucket` must be day or week"),
        ("since=yesterday", "`since` must be epoch seconds"),
        ("until=nan", "`until` must be epoch seconds"),
        ("since=2024-02-30", "`since` must be epoch seconds"),
        ("since=-1e308", "`since` must be between 1970 and 2100"),
        ("until=9999-12-31", "`until` must be epoch seconds"),
        ("since=2024-05-02&until=2024-05-01", "`since` must be before `until`"),
        ("since=2000-01-01&until=2024-01-01", "the range spans more than 400 days"),
        ("reason=not%20a%20reason", "`reason` must be letters"),
        ("csr=" + "a" * 65, "`csr` must be a username"),
    ],
)
async def test_series_refuses_bad_queries(api, tokens, query, message):
    status, body = await api.call("GET", f"/api/metrics/series?{query}", token=tokens["root"])
    assert status == 400 and error_code(body) == "invalid_input"
    assert body["error"]["message"].startswith(message), body


async def test_metrics_are_admin_only_and_show_the_backlog(api, tokens, service):
    status, body = await api.call("GET", "/api/metrics/series", token=tokens["alice"])
    assert status == 403 and error_code(body) == "forbidden"
    status, body = await api.call("GET", "/api/metrics/series")
    assert status == 401
    desk = service[0].ctx.resources.tickets
    await desk.open_by_csr("alice", subject="Lamp arrived broken", priority="high")
    await desk.open_by_csr("alice", subject="Wrong size", priority="low")
    solved = await desk.open_by_csr("alice", subject="Late parcel", priority="normal")
    await desk.update(solved.id, "alice", status="solved")
    status, body = await api.call("GET", "/api/metrics", token=tokens["root"])
    assert status == 200 and body["backlog"]["count"] == 2
    assert set(body["backlog"]["by_priority"]) == {"high", "low"}
    assert body["backlog"]["age_seconds"]["oldest"] == pytest.approx(0, abs=60)
    assert body["tickets_solved"] == 1 and body["sla"]["checked"] >= 1
    assert body["first_contact_resolution"] is None
    for csr, count in (("alice", 2), ("bob", 0)):
        status, body = await api.call("GET", f"/api/metrics/series?csr={csr}", token=tokens["root"])
        assert status == 200 and body["backlog"]["count"] == count
        assert body["totals"]["tickets_solved"] == (1 if csr == "alice" else 0)


async def test_the_page_and_the_chart_library_are_served(api):
    async with api.session.get(api.base + "/metrics") as resp:
        page = await resp.text()
        assert (
            resp.status == 200 and "script-src 'self';" in resp.headers["Content-Security-Policy"]
        )
    assert '<script src="/static/chart.umd.min.js"' in page
    async with api.session.get(api.base + "/static/chart.umd.min.js") as resp:
        library = await resp.text()
        assert resp.status == 200 and resp.content_type == "text/javascript"
    assert library.startswith("/*!\n * Chart.js v4") and "MIT License" in library[:200]
