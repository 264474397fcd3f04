"""Customers' files through the widget channel: real HTTP (multipart), real Redis."""

from __future__ import annotations

from urllib.parse import unquote

import aiohttp
import pytest
import pytest_asyncio

from bot.channel.widget import MULTIPART_OVERHEAD, WidgetInput, WidgetSettings
from handoff.core import keys
from handoff.core.settings import HandoffConfig
from tests.support.widget import RATE_LIMIT, SECRET, serving

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_BYTES = 2000
MAX_COUNT = 3
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 64
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
HTML = b"<!doctype html><script>alert(document.cookie)</script>"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def widget(redis_url, fake_bot, rate_clock):
    """The module's server, with small attachment limits (replaces the conftest one)."""
    shared = HandoffConfig(
        redis_url=redis_url,
        secret=SECRET,
        max_attachment_bytes=MAX_BYTES,
        max_attachments_per_conversation=MAX_COUNT,
    )
    settings = WidgetSettings(shared=shared, rate_limit_per_minute=RATE_LIMIT)
    channel = WidgetInput(settings, clock=rate_clock)
    async with serving(channel, fake_bot.handle) as (app, base):
        yield app, base, channel


def code(body):
    return body["error"]["code"]


def form(data, filename="photo.png", content_type="image/png", field="file"):
    # As browsers send it: the name unquoted (aiohttp would percent-encode it).
    body = aiohttp.FormData(quote_fields=False)
    body.add_field(field, data, filename=filename, content_type=content_type)
    return body


async def upload(client, token, data, **kwargs):
    status, body, _ = await client.call(
        "POST", "/attachments", token=token, data=form(data, **kwargs)
    )
    return status, body


async def download(client, token, attachment_id):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{client.base}/webhooks/widget/attachments/{attachment_id}"
    async with client.session.get(url, headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers


async def with_a_person(client, store, claimed_by="alice"):
    """A new conversation a CSR has: (conversation id, token)."""
    session = await client.new_session()
    await store.escalate(session["conversation_id"], "request_human")
    if claimed_by:
        await store.claim(session["conversation_id"], claimed_by)
    return session["conversation_id"], session["token"]


async def nothing_stored(redis_client, conv_id):
    return await redis_client.exists(keys.attachments(conv_id), keys.attachment_data(conv_id)) == 0


async def test_a_photo_reaches_the_transcript_and_the_customer_sees_their_upload(
    client, store, redis_client
):
    conv_id, token = await with_a_person(client, store)
    status, body = await upload(client, token, PNG, filename="broken vase.png")
    assert status == 201, body
    attachment = body["attachment"]
    assert (attachment["name"], attachment["type"], attachment["size"]) == (
        "broken vase.png",
        "image/png",
        len(PNG),
    )
    [entry] = body["messages"]
    assert entry["kind"] == "attachment" and entry["attachment"] == attachment
    # In the outbox too: other tabs and a reload show it.
    assert [m["id"] for m in await client.messages(token)][-1] == entry["id"]
    line = (await store.transcript(conv_id))[-1]
    assert line["sender"] == "customer" and line["attachment"] == attachment

    status, data, headers = await download(client, token, attachment["id"])
    assert status == 200 and data == PNG
    assert headers["Content-Type"] == "image/png"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    disposition = headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "broken vase.png"


async def test_the_type_comes_from_the_content_never_the_name_or_the_claimed_type(
    client, store, redis_client
):
    conv_id, token = await with_a_person(client, store)
    # HTML called .png and sent as image/png: refused, nothing stored.
    status, body = await upload(client, token, HTML, filename="photo.png", content_type="image/png")
    assert status == 415 and code(body) == "unsupported_media_type"
    assert await nothing_stored(redis_client, conv_id)

    # A JPEG called .png: kept, named and served as what it is.
    status, body = await upload(client, token, JPEG, filename="photo.png", content_type="text/html")
    assert status == 201 and body["attachment"]["type"] == "image/jpeg"
    assert body["attachment"]["name"] == "photo.png.jpg"
    status, data, headers = await download(client, token, body["attachment"]["id"])
    assert headers["Content-Type"] == "image/jpeg" and data == JPEG
    assert headers["Content-Disposition"].endswith("''photo.png.jpg")

    # A PDF with a path for a name.
    status, body = await upload(
        client, token, PDF, filename="../../receipt.pdf", content_type="application/x-msdownload"
    )
    assert status == 201 and body["attachment"]["name"] == "receipt.pdf"
    assert body["attachment"]["type"] == "application/pdf"


@pytest.mark.parametrize(
    "size",
    [MAX_BYTES + 1, MAX_BYTES + MULTIPART_OVERHEAD + 1, 400_000],
    ids=["just_over", "past_the_envelope", "far_over"],
)
async def test_an_oversize_file_is_413_and_nothing_is_stored(client, store, redis_client, size):
    conv_id, token = await with_a_person(client, store)
    status, body = await upload(client, token, PNG + b"\x00" * (size - len(PNG)))
    assert status == 413 and code(body) == "attachment_too_large"
    assert await nothing_stored(redis_client, conv_id)
    assert await store.transcript(conv_id) == []
    # The connection still serves the next request.
    status, body = await upload(client, token, PNG)
    assert status == 201


async def test_a_file_is_only_served_to_its_own_conversation(client, store):
    _, token = await with_a_person(client, store)
    status, body = await upload(client, token, PDF, filename="receipt.pdf")
    attachment_id = body["attachment"]["id"]
    other = (await client.new_session())["token"]
    status, data, _ = await download(client, other, attachment_id)
    assert status == 404 and b"attachment_not_found" in data
    _, other_with_a_person = await with_a_person(client, store, claimed_by=None)
    assert (await download(client, other_with_a_person, attachment_id))[0] == 404
    assert (await download(client, None, attachment_id))[0] == 401
    assert (await download(client, token + "x", attachment_id))[0] == 401
    assert (await download(client, token, "0" * 32))[0] == 404
    assert (await download(client, token, "..%2F..%2Fetc"))[0] == 404
    assert (await download(client, token, attachment_id))[0] == 200


async def test_uploads_need_a_token_and_a_person_on_the_conversation(client, store, redis_client):
    status, body = await upload(client, None, PNG)
    assert status == 401 and code(body) == "unauthorized"
    session = await client.new_session()  # with the bot: nobody to read the file
    status, body = await upload(client, session["token"], PNG)
    assert status == 409 and code(body) == "attachments_unavailable"
    assert await nothing_stored(redis_client, session["conversation_id"])


async def test_malformed_uploads_are_400(client, store, rate_clock):
    _, token = await with_a_person(client, store)
    cases = [
        {"body": {"file": "not multipart"}},
        {"data": form(PNG, field="picture")},
        {
            "data": b"--x\r\nnot a part\r\n--x--\r\n",
            "headers": {"Content-Type": "multipart/form-data; boundary=x"},
        },
        {"data": b"", "headers": {"Content-Type": "multipart/form-data"}},
        {
            "data": b'--x\r\nContent-Disposition: form-data; name="file"; '
            b"filename*=bogus''a%41.png\r\n\r\n" + PNG + b"\r\n--x--\r\n",
            "headers": {"Content-Type": "multipart/form-data; boundary=x"},
        },
    ]
    two = aiohttp.FormData()
    two.add_field("file", PNG, filename="a.png")
    two.add_field("file", PNG, filename="b.png")
    cases.append({"data": two})
    for case in cases:
        rate_clock.advance(60)  # refusals count against the minute's budget too
        status, body, _ = await client.call("POST", "/attachments", token=token, **case)
        assert status == 400 and code(body) == "invalid_upload", (case, body)
    status, body = await upload(client, token, PNG, filename="bad\x07name.png")
    assert status == 400 and code(body) == "invalid_text"
    status, body = await upload(client, token, b"")
    assert status == 400 and code(body) == "empty_attachment"


async def test_a_conversation_holds_a_limited_number_of_files(client, store, rate_clock):
    conv_id, token = await with_a_person(client, store)
    for i in range(MAX_COUNT):
        status, body = await upload(client, token, PNG, filename=f"{i}.png")
        assert status == 201, body
    status, body = await upload(client, token, PNG)
    assert status == 409 and code(body) == "too_many_attachments"
    assert len(await store.transcript(conv_id)) == MAX_COUNT


async def test_uploads_are_rate_limited(client, store, rate_clock):
    _, token = await with_a_person(client, store)
    for _ in range(RATE_LIMIT):
        await upload(client, token, HTML)  # refused, but counted
    status, body = await upload(client, token, PNG)
    assert status == 429 and code(body) == "rate_limited"
