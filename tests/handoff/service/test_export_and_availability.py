"""The admin export and team away mode over real HTTP, on the session's real Redis."""

from __future__ import annotations

import csv
import io
import json

import pytest
import pytest_asyncio

from handoff.core import keys
from handoff.core.store import HandoffStore
from tests.support.handoff_api import error_code, running, service_config

pytestmark = pytest.mark.asyncio(loop_scope="module")

FORMULA = '=HYPERLINK("https://evil.example","click")'


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(redis_url, tmp_path_factory):
    project = tmp_path_factory.mktemp("bot-project")
    async with running(service_config(redis_url, project_dir=project)) as served:
        yield served


async def download(api, path, token):
    async with api.session.get(
        api.base + path, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        return resp.status, resp.headers, await resp.text()


async def conversations(redis, count=3):
    store = HandoffStore(redis)
    for n in range(count):
        await store.escalate(
            f"c{n}",
            "complaint" if n == 0 else "request_human",
            context={"transcript": [{"sender": "customer", "text": FORMULA, "timestamp": 1.0}]},
        )
    await store.claim("c0", "alice")
    await store.record_csr_message("c0", "alice", "On it")
    await store.close("c0", "-refund_issued", by="alice")
    await store.set_csat("c0", 5)
    return store


# ---- export ----------------------------------------------------------------------------------


async def test_conversations_as_csv(api, tokens, redis_client):
    await conversations(redis_client)
    status, headers, text = await download(
        api, "/api/admin/export/conversations?format=csv", tokens["root"]
    )
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"].startswith('attachment; filename="conversations-')
    assert headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["id"] for r in rows) == ["c0", "c1", "c2"]
    closed = next(r for r in rows if r["id"] == "c0")
    assert closed["state"] == "closed" and closed["assigned_to"] == "alice"
    assert closed["resolution"] == "'-refund_issued"  # a leading - is defused, like =
    assert closed["csat"] == "5" and closed["escalations"] == "1"
    assert closed["created_at"].endswith("Z") and closed["closed_at"].endswith("Z")
    assert float(closed["first_reply_seconds"]) >= 0
    assert "transcript" not in closed  # CSV carries no message text


async def test_conversations_as_json_with_transcripts_and_a_time_window(api, tokens, redis_client):
    await conversations(redis_client)
    status, headers, text = await download(
        api, "/api/admin/export/conversations?format=json", tokens["root"]
    )
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    body = json.loads(text)
    by_id = {c["id"]: c for c in body["conversations"]}
    assert set(by_id) == {"c0", "c1", "c2"}
    assert by_id["c0"]["transcript"][0]["text"] == FORMULA  # JSON keeps the text as it is
    assert by_id["c0"]["csat"] == 5 and isinstance(by_id["c0"]["created_at"], float)
    created = by_id["c0"]["created_at"]
    status, _, text = await download(
        api, f"/api/admin/export/conversations?format=json&since={created + 3600}", tokens["root"]
    )
    assert status == 200 and json.loads(text) == {"conversations": []}
    status, _, text = await download(
        api, "/api/admin/export/conversations?until=2000-01-01T00:00:00Z", tokens["root"]
    )
    assert status == 200 and text.splitlines()[1:] == []


async def test_a_big_store_is_read_in_pages(api, tokens, redis_client):
    await conversations(redis_client, count=450)  # more than two SCAN pages
    status, _, text = await download(api, "/api/admin/export/conversations", tokens["root"])
    assert status == 200
    assert len(list(csv.DictReader(io.StringIO(text)))) == 450


async def test_tickets_as_csv_and_json(api, service, tokens, redis_client):
    desk = service[0].ctx.resources.tickets
    ticket = await desk.open_by_csr("alice", subject=FORMULA, priority="high")
    await desk.open_by_csr("alice", subject="@SUM(A1:A9) courier", priority="low")
    status, headers, text = await download(api, "/api/admin/export/tickets", tokens["root"])
    assert status == 200 and headers["Content-Disposition"].startswith(
        'attachment; filename="tickets-'
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["subject"][:2] for r in rows] == ["'=", "'@"]  # oldest first, both defused
    assert rows[0]["id"] == ticket.id and rows[0]["priority"] == "high"
    assert rows[0]["first_reply_breached"] in ("true", "false")
    status, _, text = await download(api, "/api/admin/export/tickets?format=json", tokens["root"])
    [first, _] = json.loads(text)["tickets"]
    assert first["subject"] == FORMULA and isinstance(first["thread"], list)


async def test_export_is_for_admins_only(api, tokens):
    for path in ("/api/admin/export/conversations", "/api/admin/export/tickets"):
        status, body = await api.call("GET", path, token=tokens["alice"])
        assert status == 403 and error_code(body) == "forbidden"
        status, body = await api.call("GET", path)
        assert status == 401


@pytest.mark.parametrize(
    "query", ["format=xml", "since=soon", "since=nan", "since=10&until=5", "until=inf"]
)
async def test_export_refuses_bad_parameters(api, tokens, query):
    status, body = await api.call(
        "GET", f"/api/admin/export/conversations?{query}", token=tokens["root"]
    )
    assert status == 400 and error_code(body) == "invalid_input"


# ---- team away mode --------------------------------------------------------------------------


async def test_admins_set_the_team_away_and_everyone_sees_it(api, tokens, redis_client):
    assert await api.call("GET", "/api/availability", token=tokens["alice"]) == (
        200,
        {"away": None},
    )
    status, body = await api.call(
        "PUT", "/api/availability", token=tokens["root"], body={"message": "Back at 2 pm."}
    )
    assert status == 200 and body["away"]["by"] == "root"
    assert body["away"]["message"] == "Back at 2 pm."
    status, body = await api.call("GET", "/api/availability", token=tokens["alice"])
    assert status == 200 and body["away"]["message"] == "Back at 2 pm."
    status, body = await api.call("DELETE", "/api/availability", token=tokens["root"])
    assert (status, body) == (200, {"away": None})
    kinds = [
        json.loads(f["event"])["type"] for _, f in await redis_client.xrange(keys.WEBHOOK_EVENTS)
    ]
    assert kinds == ["team.away", "team.back"]


async def test_only_admins_change_availability(api, tokens):
    for method in ("PUT", "DELETE"):
        status, body = await api.call(method, "/api/availability", token=tokens["alice"], body={})
        assert status == 403 and error_code(body) == "forbidden"
    status, _ = await api.call("GET", "/api/availability")
    assert status == 401
    status, body = await api.call(
        "PUT", "/api/availability", token=tokens["root"], body={"message": "x" * 501}
    )
    assert status == 400 and error_code(body) == "text_too_long"
    status, body = await api.call("GET", "/api/availability", token=tokens["root"])
    assert body == {"away": None}
