"""CSRs download customers' files: the widget channel and the handoff service over real HTTP,
on the session's Redis."""

from __future__ import annotations

from urllib.parse import unquote

import aiohttp
import pytest
import pytest_asyncio

from bot.channel.widget import WidgetInput, WidgetSettings
from handoff.core.auth import Auth
from handoff.core.settings import from_mapping
from handoff.core.store import HandoffStore
from tests.support.auth import FAST_SCRYPT_N, PASSWORD, SECRET
from tests.support.handoff_api import Api, error_code, running
from tests.support.widget import FakeBot
from tests.support.widget import serving as serving_widget

pytestmark = pytest.mark.asyncio(loop_scope="module")

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
HTML_PNG = b"\x89PNG\r\n\x1a\n<html><script>alert(document.domain)</script></html>"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def servers(redis_url):
    """(service URL, widget URL): the handoff service and Rasa's widget channel."""
    config = from_mapping({"redis_url": redis_url, "secret": SECRET, "rasa_url": ""})
    channel = WidgetInput(WidgetSettings(shared=config))
    async with running(config) as (_, service_url):
        async with serving_widget(channel, FakeBot().handle) as (_, widget_url):
            yield service_url, widget_url + "/webhooks/widget"


@pytest_asyncio.fixture(loop_scope="module")
async def http(servers, redis_db):
    async with aiohttp.ClientSession() as session:
        yield session


@pytest_asyncio.fixture(loop_scope="module")
async def csr(http, servers, redis_client):
    await Auth(redis_client, SECRET, scrypt_n=FAST_SCRYPT_N).create_account(
        "alice", PASSWORD, "csr"
    )
    return await Api(servers[0], http).login("alice")


async def customer_with_a_person(http, widget_url, redis_client):
    async with http.post(f"{widget_url}/session") as resp:
        session = await resp.json()
    store = HandoffStore(redis_client)
    await store.escalate(session["conversation_id"], "request_human")
    await store.claim(session["conversation_id"], "alice")
    return session["conversation_id"], session["token"]


async def send_file(http, widget_url, token, data, filename):
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", data, filename=filename, content_type="image/png")
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{widget_url}/attachments", data=form, headers=headers) as resp:
        return resp.status, await resp.json()


async def get(http, url, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(url, headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers


async def test_the_csr_sees_and_downloads_what_the_customer_sent(http, servers, csr, redis_client):
    service_url, widget_url = servers
    conv_id, token = await customer_with_a_person(http, widget_url, redis_client)
    status, body = await send_file(http, widget_url, token, PDF, "Quittung für März.pdf")
    assert status == 201, body
    sent = body["attachment"]

    api = Api(service_url, http)
    status, details = await api.call("GET", f"/api/conversations/{conv_id}", token=csr)
    assert status == 200 and details["attachments"] == [sent]
    [line] = [m for m in details["transcript"] if m.get("attachment")]
    assert line["attachment"] == sent and line["sender"] == "customer"

    url = f"{service_url}/api/conversations/{conv_id}/attachments/{sent['id']}"
    status, data, headers = await get(http, url, csr)
    assert status == 200 and data == PDF
    assert headers["Content-Type"] == "application/pdf"
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    disposition = headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "Quittung für März.pdf"


async def test_an_html_page_called_png_never_reaches_a_csr(http, servers, csr, redis_client):
    service_url, widget_url = servers
    conv_id, token = await customer_with_a_person(http, widget_url, redis_client)
    # Starts like a PNG, so it is one: served as image/png, saved, never rendered as HTML.
    status, body = await send_file(http, widget_url, token, HTML_PNG, "invoice.html")
    assert status == 201 and body["attachment"]["name"] == "invoice.html.png"
    url = f"{service_url}/api/conversations/{conv_id}/attachments/{body['attachment']['id']}"
    status, data, headers = await get(http, url, csr)
    assert headers["Content-Type"] == "image/png" and "html" not in headers["Content-Type"]
    assert headers["Content-Disposition"].endswith("''invoice.html.png")
    assert headers["X-Content-Type-Options"] == "nosniff"
    # Plain HTML is refused outright.
    status, body = await send_file(http, widget_url, token, b"<html></html>", "photo.png")
    assert status == 415


async def test_downloads_need_a_csr_token_and_the_right_conversation(
    http, servers, csr, redis_client
):
    service_url, widget_url = servers
    conv_id, token = await customer_with_a_person(http, widget_url, redis_client)
    other_id, _ = await customer_with_a_person(http, widget_url, redis_client)
    _, body = await send_file(http, widget_url, token, PDF, "r.pdf")
    attachment_id = body["attachment"]["id"]
    base = f"{service_url}/api/conversations"

    status, data, _ = await get(http, f"{base}/{conv_id}/attachments/{attachment_id}", None)
    assert status == 401
    # A customer's token is not a CSR's.
    assert (await get(http, f"{base}/{conv_id}/attachments/{attachment_id}", token))[0] == 401
    status, data, _ = await get(http, f"{base}/{other_id}/attachments/{attachment_id}", csr)
    assert status == 404 and b"attachment_not_found" in data
    assert (await get(http, f"{base}/{conv_id}/attachments/{'0' * 32}", csr))[0] == 404
    assert (await get(http, f"{base}/{conv_id}/attachments/nope", csr))[0] == 404
    status, data, _ = await get(http, f"{base}/bad%20id/attachments/{attachment_id}", csr)
    assert status == 400
    api = Api(service_url, http)
    status, details = await api.call("GET", f"/api/conversations/{other_id}", token=csr)
    assert details["attachments"] == []
    status, body = await api.call("GET", f"/api/conversations/nobody/attachments/{'0' * 32}", csr)
    assert status == 404 and error_code(body) == "attachment_not_found"
