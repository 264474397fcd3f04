"""Files customers attach in the widget: a photo of a damaged item, a PDF receipt.

What a file *is* comes from its first bytes (PNG, JPEG, GIF, WebP or PDF), never from its
name or from the Content-Type the client claimed: anything else is refused with 415
``unsupported_media_type``. A ``.png`` holding HTML is refused; a PDF called
``invoice.exe`` is kept as ``invoice.exe.pdf``, so what a CSR saves opens as what it is.
SVG is not accepted on purpose (it can carry script).

The file name is display text only: control characters are refused
(:func:`handoff.core.text_rules.check_text`), directories, bidi overrides and leading dots
are dropped, card numbers are masked as in transcripts, and the extension always matches
the content. It never names anything on a disk or in Redis; the id does.

Storage (keys in :mod:`handoff.core.keys`): two hashes per conversation, the metadata
(``handoff:attachments:{id}``) and the bytes, base64 (``handoff:attachment_data:{id}``,
so the decoded Redis client of every process can carry them). Both expire with the
conversation record (``record_ttl_days``; every change to the record renews them too).
A conversation holds at most ``max_attachments_per_conversation`` files of at most
``max_attachment_bytes`` each.

A file is accepted only while a person has the conversation (queued or assigned): the bot
cannot read files and only CSRs download them. It is then recorded three times: the
bytes and metadata, a customer line in the transcript (with the metadata, so the console
offers the download) and an outbox entry (``kind: attachment``) so the customer sees
their own upload in every tab and after a reload.

Downloads are served with :func:`download_headers`: the sniffed type, ``attachment``
disposition, ``nosniff`` and a sandboxing Content-Security-Policy, so no browser ever
renders one as a page of either origin.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from handoff.core import errors, keys
from handoff.core.lifecycle import State
from handoff.core.outbox import Entry, Outbox
from handoff.core.redaction import mask_transcript_text
from handoff.core.store import HandoffStore
from handoff.core.text_rules import check_text
from handoff.core.transactions import Writer, watched

# media type -> the extensions a file of that type may keep (the first is added otherwise)
TYPES: Dict[str, Tuple[str, ...]] = {
    "image/png": ("png",),
    "image/jpeg": ("jpg", "jpeg", "jpe", "jfif"),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    "application/pdf": ("pdf",),
}
MAX_NAME_CHARS = 255  # what file systems allow: a real file's name never needs more
DEFAULT_STEM = "attachment"
WITH_CSR = (State.QUEUED, State.ASSIGNED)
DOWNLOAD_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"

_ID = re.compile(r"^[0-9a-f]{32}$")
_SEPARATORS = re.compile(r"[/\\]")
# Bidi embeddings, overrides and isolates: "photo\u202egnp.exe" would display as "photoexe.png".
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ASCII_FALLBACK = re.compile(r"[^A-Za-z0-9._() -]")
_MAX_RETRIES = 20

UNAVAILABLE = "You can share files once you have asked to talk to a person from our team."


class AttachmentNotFound(errors.NotFound):
    """No attachment with this id in this conversation (or it expired)."""

    code = "attachment_not_found"


# ---- the rules, on plain values ------------------------------------------------------------


def sniff(data: bytes) -> Optional[str]:
    """The media type the content starts like, or None for anything not accepted."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def check_content(data: bytes, max_bytes: int) -> str:
    """The media type of an uploaded file, from its content.

    Raises:
        InvalidInput: the file is empty (``empty_attachment``).
        PayloadTooLarge: larger than ``max_bytes`` (``attachment_too_large``).
        UnsupportedMediaType: not a PNG, JPEG, GIF, WebP image or a PDF.
    """
    if not data:
        raise errors.InvalidInput("the file is empty", code="empty_attachment")
    if len(data) > max_bytes:
        raise errors.PayloadTooLarge(
            f"files are limited to {describe_size(max_bytes)}", code="attachment_too_large"
        )
    media_type = sniff(data)
    if media_type is None:
        raise errors.UnsupportedMediaType(
            "only photos (PNG, JPEG, GIF, WebP) and PDF documents can be attached"
        )
    return media_type


def clean_name(raw: Any, media_type: str) -> str:
    """The display name of a file: no directories or bidi tricks, an extension that matches.

    Raises:
        InvalidInput: not a string, a control character, or longer than ``MAX_NAME_CHARS``.
    """
    name = check_text(
        "" if raw is None else raw, "filename", max_chars=MAX_NAME_CHARS, required=False
    )
    name = _SEPARATORS.split(name)[-1]  # a path ("C:\\fakepath\\x.png", "../x.png"): its last part
    name = " ".join(_BIDI.sub("", name).split())  # newlines, tabs and runs of spaces: one space
    name = mask_transcript_text(name.strip(". "))  # no hidden files, no trailing dots
    stem, dot, extension = name.rpartition(".")
    if not (dot and extension.lower() in TYPES[media_type]):
        stem, extension = name or DEFAULT_STEM, TYPES[media_type][0]
    return f"{stem[: MAX_NAME_CHARS - len(extension) - 1]}.{extension}"


def describe_size(size: int) -> str:
    """``5 MB``, ``300 KB``, ``12 bytes``: a size as a customer reads it."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def content_disposition(name: str) -> str:
    """``attachment`` with the name percent-encoded (RFC 6266/5987) and an ASCII fallback."""
    fallback = _ASCII_FALLBACK.sub("_", name) or DEFAULT_STEM
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_headers(attachment: "Attachment") -> Dict[str, str]:
    """The headers of every download (the Content-Type is ``attachment.type``).

    Saved, never rendered: ``attachment`` disposition, no type sniffing, and a policy that
    sandboxes the response and forbids it every resource, should a browser open it anyway.
    """
    return {
        "Content-Disposition": content_disposition(attachment.name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": DOWNLOAD_CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "private, no-store",
        "Referrer-Policy": "no-referrer",
    }


@dataclass(frozen=True)
class Attachment:
    """What is known about one stored file (its bytes are kept apart).

    Attributes:
        id: 32 hex digits, random.
        name: The cleaned display name (see :func:`clean_name`).
        type: The media type sniffed from the content.
        size: Bytes.
        sha256: Hex digest of the content.
        timestamp: When it was received (epoch seconds).
    """

    id: str
    name: str
    type: str
    size: int
    sha256: str
    timestamp: float

    def to_dict(self) -> Dict[str, Any]:
        """The metadata as the APIs, the transcript and the outbox show it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Attachment":
        """Rebuild from :meth:`to_dict` output."""
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})


def transcript_text(attachment: Attachment) -> str:
    """The customer's transcript line for a file (the console shows the download with it)."""
    return f"Sent a file: {attachment.name}"


def outbox_message(attachment: Attachment) -> Dict[str, Any]:
    """The entry that shows the customer their own upload (``kind: attachment``)."""
    return {
        "sender": "system",
        "kind": "attachment",
        "text": f"You sent {attachment.name} ({describe_size(attachment.size)}).",
        "attachment": attachment.to_dict(),
        "timestamp": attachment.timestamp,
    }


# ---- storage -------------------------------------------------------------------------------


class Attachments:
    """Receive, keep and hand out the files of conversations.

    Args:
        redis: An asyncio Redis client (decoded replies: the bytes travel as base64).
        store: Conversation records (state check and transcript line).
        outbox: Messages to customers (the customer's copy of the upload).
        max_bytes: Largest file accepted.
        max_count: Files one conversation may hold.
        ttl_seconds: How long files are kept (the conversation record's TTL).
        clock: Returns the current epoch time (tests pass a fake one).
    """

    def __init__(
        self,
        redis: Redis,
        store: HandoffStore,
        outbox: Outbox,
        *,
        max_bytes: int = 5 * 1024 * 1024,
        max_count: int = 10,
        ttl_seconds: int = 30 * 86400,
        clock: Callable[[], float] = time.time,
    ):
        """Create the attachments over one Redis client."""
        self._redis = redis
        self._store = store
        self._outbox = outbox
        self.max_bytes = max_bytes
        self.max_count = max_count
        self._ttl = ttl_seconds
        self._clock = clock

    async def receive(self, conv_id: str, filename: Any, data: bytes) -> Tuple[Attachment, Entry]:
        """Keep a file the customer sent and record it in the transcript and their outbox.

        Returns:
            The attachment and the outbox entry that shows it to the customer.

        Raises:
            InvalidInput: empty file, or a file name with control characters.
            PayloadTooLarge: larger than ``max_bytes``.
            UnsupportedMediaType: content of a type not accepted.
            Conflict: no person has the conversation (``attachments_unavailable``), or it
                holds ``max_count`` files already (``too_many_attachments``).
        """
        media_type = check_content(data, self.max_bytes)
        name = clean_name(filename, media_type)
        await self._check_state(conv_id)
        attachment = Attachment(
            id=uuid.uuid4().hex,
            name=name,
            type=media_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            timestamp=self._clock(),
        )
        await self._save(conv_id, attachment, data)
        try:
            await self._store.record_customer_attachment(
                conv_id, transcript_text(attachment), attachment.to_dict()
            )
        except errors.ConversationNotFound as exc:
            await self._forget(conv_id, attachment.id)
            raise errors.Conflict(UNAVAILABLE, code="attachments_unavailable") from exc
        except Exception:
            # The state changed meanwhile, or Redis failed: no file without its transcript line.
            with contextlib.suppress(Exception):
                await self._forget(conv_id, attachment.id)
            raise
        message = outbox_message(attachment)
        entry_id = await self._outbox.append(conv_id, message)
        return attachment, (entry_id, message)

    async def get(self, conv_id: str, attachment_id: str) -> Tuple[Attachment, bytes]:
        """One file of one conversation, with its metadata.

        Raises:
            InvalidInput: not a conversation id.
            AttachmentNotFound: no such file in this conversation (never, or expired).
        """
        _check_conv(conv_id)
        if not isinstance(attachment_id, str) or not _ID.match(attachment_id):
            raise AttachmentNotFound(f"no attachment {attachment_id!r} in this conversation")
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.attachments(conv_id), attachment_id)
            pipe.hget(keys.attachment_data(conv_id), attachment_id)
            meta, blob = await pipe.execute()
        if meta is None or blob is None:
            raise AttachmentNotFound(f"no attachment {attachment_id!r} in this conversation")
        return Attachment.from_dict(json.loads(meta)), base64.b64decode(blob)

    async def in_conversation(self, conv_id: str) -> List[Attachment]:
        """Every file of a conversation, oldest first."""
        raw = await self._redis.hvals(keys.attachments(_check_conv(conv_id)))
        found = [Attachment.from_dict(json.loads(meta)) for meta in raw]
        return sorted(found, key=lambda a: a.timestamp)

    async def _check_state(self, conv_id: str) -> None:
        # Before storing anything; the store checks again atomically with the transcript line.
        try:
            conv = await self._store.get(conv_id)
        except errors.ConversationNotFound:
            conv = None
        if conv is None or conv.state not in WITH_CSR:
            raise errors.Conflict(UNAVAILABLE, code="attachments_unavailable")

    async def _save(self, conv_id: str, attachment: Attachment, data: bytes) -> None:
        """Store bytes and metadata unless the conversation is full (atomic across clients)."""
        index, blobs = keys.attachments(conv_id), keys.attachment_data(conv_id)

        def write(pipe: Pipeline) -> None:
            pipe.hset(index, attachment.id, json.dumps(attachment.to_dict()))
            pipe.hset(blobs, attachment.id, base64.b64encode(data).decode("ascii"))
            pipe.expire(index, self._ttl)
            pipe.expire(blobs, self._ttl)

        async def decide(pipe: Pipeline) -> Tuple[None, Writer]:
            # Counted again when another upload to this conversation came meanwhile.
            if await pipe.hlen(index) >= self.max_count:
                raise errors.Conflict(
                    f"a conversation can hold at most {self.max_count} files",
                    code="too_many_attachments",
                )
            return None, write

        await watched(
            self._redis,
            index,
            decide,
            retries=_MAX_RETRIES,
            busy="too many files arriving at once; try again",
        )

    async def _forget(self, conv_id: str, attachment_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.attachments(conv_id), attachment_id)
            pipe.hdel(keys.attachment_data(conv_id), attachment_id)
            await pipe.execute()


def _check_conv(conv_id: str) -> str:
    if not keys.check_id(conv_id):
        raise errors.InvalidInput("conversation id must be 1-128 letters, digits or _.:@+-")
    return conv_id
