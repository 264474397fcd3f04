"""Customers' files: the type from the content, the name as display text, the limits, and
storage next to the conversation record (real Redis)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import replace
from urllib.parse import unquote

import pytest

from handoff.core import keys
from handoff.core.attachments import (
    MAX_NAME_CHARS,
    Attachment,
    AttachmentNotFound,
    Attachments,
    check_content,
    clean_name,
    content_disposition,
    download_headers,
    sniff,
)
from handoff.core.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from handoff.core.http_errors import http_error
from handoff.core.outbox import Outbox
from handoff.core.resources import Resources
from handoff.core.settings import load_config

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(40))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 40
GIF = b"GIF89a\x01\x00\x01\x00" + b"\x00" * 20
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
HTML = b"<!doctype html><script>alert(document.cookie)</script>"


# ---- the type comes from the content ---------------------------------------------------------


@pytest.mark.parametrize(
    "data,media_type",
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (b"GIF87a" + b"\x00" * 10, "image/gif"),
        (WEBP, "image/webp"),
        (PDF, "application/pdf"),
    ],
)
def test_accepted_types_are_recognised_by_their_first_bytes(data, media_type):
    assert sniff(data) == media_type
    assert check_content(data, max_bytes=1000) == media_type


@pytest.mark.parametrize(
    "data",
    [
        HTML,
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # RIFF, but audio
        b"MZ\x90\x00\x03",  # a Windows executable
        b"PK\x03\x04",  # a zip (or an Office document)
        b"\xff\xd8",  # a JPEG cut before its marker
        b"%PDF",  # no version dash
        b" %PDF-1.7",  # not at the start
        b"png\x89PNG\r\n\x1a\n",
    ],
)
def test_anything_else_is_unsupported_whatever_it_is_called(data):
    assert sniff(data) is None
    with pytest.raises(UnsupportedMediaType) as refused:
        check_content(data, max_bytes=1000)
    err = http_error(refused.value)
    assert (err.status, err.code) == (415, "unsupported_media_type")


def test_empty_and_oversize_files_are_refused_before_sniffing():
    with pytest.raises(InvalidInput) as empty:
        check_content(b"", max_bytes=10)
    assert http_error(empty.value).status == 400 and empty.value.code == "empty_attachment"
    with pytest.raises(PayloadTooLarge) as large:
        check_content(PNG, max_bytes=len(PNG) - 1)
    assert http_error(large.value).status == 413 and large.value.code == "attachment_too_large"
    assert check_content(PNG, max_bytes=len(PNG)) == "image/png"  # the limit itself is fine


# ---- the name is display text ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,media_type,name",
    [
        ("receipt.pdf", "application/pdf", "receipt.pdf"),
        ("Photo 12.JPG", "image/jpeg", "Photo 12.JPG"),
        ("scan.jpeg", "image/jpeg", "scan.jpeg"),
        ("Quittung für März.pdf", "application/pdf", "Quittung für März.pdf"),
        ("📦 broken.png", "image/png", "📦 broken.png"),
        # The extension always says what the content is.
        ("invoice.exe", "application/pdf", "invoice.exe.pdf"),
        ("photo.png", "image/jpeg", "photo.png.jpg"),
        ("notes", "image/gif", "notes.gif"),
        (None, "image/webp", "attachment.webp"),
        ("", "application/pdf", "attachment.pdf"),
        # Directories, hidden files, trailing dots and spacing go.
        ("../../etc/passwd.png", "image/png", "passwd.png"),
        ("C:\\fakepath\\damage.png", "image/png", "damage.png"),
        ("/", "image/png", "attachment.png"),
        (".htaccess.png", "image/png", "htaccess.png"),
        ("box.png. . ", "image/png", "box.png"),
        ("two\nlines\tand   spaces.png", "image/png", "two lines and spaces.png"),
        # Bidi overrides cannot disguise the extension.
        ("photo\u202egnp.exe", "image/png", "photognp.exe.png"),
        # Card numbers are masked as in transcripts.
        ("card 4242 4242 4242 4242.png", "image/png", "card [card ending 4242].png"),
    ],
)
def test_names_are_cleaned(raw, media_type, name):
    assert clean_name(raw, media_type) == name


@pytest.mark.parametrize("raw", ["bad\x00name.png", "bell\x07.png", "esc\x1b[31m.png", 42])
def test_names_with_control_characters_or_of_another_type_are_refused(raw):
    with pytest.raises(InvalidInput):
        clean_name(raw, "image/png")


def test_name_length_is_limited():
    with pytest.raises(InvalidInput):
        clean_name("x" * (MAX_NAME_CHARS + 1) + ".png", "image/png")
    longest = clean_name("x" * MAX_NAME_CHARS, "image/png")  # an extension is added...
    assert len(longest) == MAX_NAME_CHARS and longest.endswith(".png")  # ...within the limit


# ---- download headers ------------------------------------------------------------------------


def test_content_disposition_percent_encodes_the_name_and_has_an_ascii_fallback():
    header = content_disposition('a "quoted"; name=x.pdf')
    assert header.startswith('attachment; filename="a _quoted__ name_x.pdf"; ')
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == 'a "quoted"; name=x.pdf'
    assert all(c.isalnum() or c in "%._-~" for c in encoded)
    assert content_disposition("Quittung für März.pdf").endswith(
        "filename*=UTF-8''Quittung%20f%C3%BCr%20M%C3%A4rz.pdf"
    )


def test_download_headers_make_every_browser_save_instead_of_render():
    attachment = Attachment("0" * 32, "r.pdf", "application/pdf", 3, "ab", 1.0)
    headers = download_headers(attachment)
    assert headers["Content-Disposition"].startswith("attachment;")
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert "no-store" in headers["Cache-Control"]


# ---- storage, against the session's Redis ----------------------------------------------------


@pytest.fixture
def attachments(redis_client, store, clock):
    return Attachments(
        redis_client, store, Outbox(redis_client), max_bytes=1000, max_count=3, clock=clock
    )


async def test_a_file_is_kept_with_its_transcript_line_and_the_customers_copy(
    attachments, store, redis_client
):
    await store.escalate("c1", "request_human")
    attachment, (entry_id, message) = await attachments.receive("c1", "receipt.pdf", PDF)
    assert attachment.name == "receipt.pdf" and attachment.type == "application/pdf"
    assert attachment.size == len(PDF) and attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert len(attachment.id) == 32

    assert await attachments.get("c1", attachment.id) == (attachment, PDF)
    assert await attachments.in_conversation("c1") == [attachment]

    line = (await store.transcript("c1"))[-1]
    assert line["sender"] == "customer" and line["text"] == "Sent a file: receipt.pdf"
    assert line["attachment"] == attachment.to_dict()

    assert message["sender"] == "system" and message["kind"] == "attachment"
    assert message["attachment"] == attachment.to_dict()
    assert await Outbox(redis_client).read_after("c1") == [(entry_id, message)]

    # The bytes travel as base64 in a decoded client.
    stored = await redis_client.hget(keys.attachment_data("c1"), attachment.id)
    assert base64.b64decode(stored) == PDF


async def test_files_expire_with_the_record_and_every_change_renews_them(
    redis_client, store, clock
):
    short = Attachments(redis_client, store, Outbox(redis_client), ttl_seconds=100, clock=clock)
    await store.escalate("c1", "request_human")
    attachment, _ = await short.receive("c1", "a.png", PNG)
    # The store's own write renewed them to the record's TTL (30 days here).
    for key in (keys.attachments("c1"), keys.attachment_data("c1")):
        assert 29 * 86400 < await redis_client.ttl(key) <= 30 * 86400
    await redis_client.expire(keys.attachments("c1"), 100)
    await redis_client.expire(keys.attachment_data("c1"), 100)
    await store.claim("c1", "alice")
    for key in (keys.attachments("c1"), keys.attachment_data("c1")):
        assert await redis_client.ttl(key) > 100


@pytest.mark.parametrize("setup", ["never_escalated", "closed", "with_the_bot"])
async def test_only_a_conversation_a_person_has_takes_files(attachments, store, setup):
    if setup != "never_escalated":
        await store.escalate("c1", "request_human")
        await store.claim("c1", "alice")
        if setup == "closed":
            await store.close("c1", "solved", by="alice")
        else:
            await store.release("c1", by="alice")
    with pytest.raises(Conflict) as refused:
        await attachments.receive("c1", "a.png", PNG)
    assert refused.value.code == "attachments_unavailable"
    assert http_error(refused.value).status == 409
    assert await attachments.in_conversation("c1") == []


async def test_a_refused_file_leaves_nothing_behind(attachments, store, redis_client):
    await store.escalate("c1", "request_human")
    for name, data in (("big.png", PNG + b"x" * 1000), ("page.png", HTML), ("x\x00.png", PNG)):
        with pytest.raises(InvalidInput):  # 413, 415 and 400 are all the caller's to fix
            await attachments.receive("c1", name, data)
    assert await redis_client.exists(keys.attachments("c1"), keys.attachment_data("c1")) == 0
    assert len(await store.transcript("c1")) == 0


async def test_a_state_change_between_check_and_write_removes_the_file(
    attachments, store, redis_client, monkeypatch
):
    await store.escalate("c1", "request_human")

    async def closed_meanwhile(*args, **kwargs):
        raise InvalidTransition("closed meanwhile", code="attachments_unavailable")

    monkeypatch.setattr(store, "record_customer_attachment", closed_meanwhile)
    with pytest.raises(InvalidTransition):
        await attachments.receive("c1", "a.png", PNG)
    assert await redis_client.hlen(keys.attachments("c1")) == 0
    assert await redis_client.hlen(keys.attachment_data("c1")) == 0


async def test_the_store_itself_refuses_a_file_for_a_conversation_nobody_has(store):
    await store.escalate("c1", "request_human")
    await store.abandon("c1")
    with pytest.raises(InvalidTransition):
        await store.record_customer_attachment("c1", "Sent a file: a.png", {"id": "x"})


async def test_the_count_limit_holds_under_concurrent_uploads(attachments, store):
    await store.escalate("c1", "request_human")
    results = await asyncio.gather(
        *(attachments.receive("c1", f"{i}.png", PNG) for i in range(6)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 3 and all(r.code == "too_many_attachments" for r in refused)
    assert len(await attachments.in_conversation("c1")) == 3
    assert len(await store.transcript("c1")) == 3


async def test_a_file_is_only_found_in_its_own_conversation(attachments, store):
    await store.escalate("c1", "request_human")
    await store.escalate("c2", "request_human")
    attachment, _ = await attachments.receive("c1", "a.png", PNG)
    with pytest.raises(AttachmentNotFound):
        await attachments.get("c2", attachment.id)
    for bad in ("nope", "../" + attachment.id, attachment.id.upper(), ""):
        with pytest.raises(AttachmentNotFound):
            await attachments.get("c1", bad)
    with pytest.raises(InvalidInput):
        await attachments.get("bad id", attachment.id)


async def test_every_process_gets_the_configured_limits_and_the_record_ttl(redis_client, redis_db):
    settings = replace(
        load_config(env={}),
        redis_url=redis_db,
        record_ttl_days=3,
        max_attachment_bytes=len(PNG),
        max_attachments_per_conversation=1,
    )
    resources = Resources(settings, redis=redis_client)
    attachments = resources.attachments
    assert (attachments.max_bytes, attachments.max_count) == (len(PNG), 1)
    await resources.store.escalate("c1", "request_human")
    await attachments.receive("c1", "a.png", PNG)
    assert 2 * 86400 < await redis_client.ttl(keys.attachment_data("c1")) <= 3 * 86400
    with pytest.raises(PayloadTooLarge):
        await attachments.receive("c1", "b.png", PNG + b"x")
    with pytest.raises(Conflict):
        await attachments.receive("c1", "b.png", PNG)
