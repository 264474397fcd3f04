"""The model server: every Rasa server pulls the active model from here (``GET /models/active``).

Rasa 3.6 pulls with ``models:`` in endpoints.yml (rasa/core/agent.py,
``_pull_model_and_fingerprint``): a GET on the url with ``?token=`` and ``If-None-Match``
set to the ETag of the model it runs, at start-up and then every ``wait_time_between_pulls``
seconds. It loads a 200's body, saved under the name in the ``filename`` header, and keeps
what it runs on a 304 or a 404. So the ETag is the model's file name: the same file never
downloads twice, and ``/status`` of every Rasa server reports that name as ``model_file``,
which is how an activation knows it arrived (:mod:`bot.retraining.model_registry`).

The token is the Rasa ``--auth-token`` the service already knows (``rasa_token``): a model
holds the training data and responses, so it is never served without it.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from pathlib import Path
from typing import BinaryIO, Optional

from sanic import Request, Sanic
from sanic.response import HTTPResponse, empty

from handoff.core import errors

PATH = "/models/active"
CHUNK_BYTES = 1 << 20


def register(app: Sanic) -> None:
    """Add the model-server route to ``app``."""
    app.add_route(active_model, PATH, methods=["GET"])


async def active_model(request: Request) -> Optional[HTTPResponse]:
    """The active model file; 304 when the caller already runs it, 404 when none is active."""
    _check_token(request)
    path = await request.app.ctx.models.active_file()
    etag = f'"{path.name}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _matches(request.headers.get("if-none-match"), path.name):
        return empty(status=304, headers=headers)
    # Opened before answering: a model pruned meanwhile is still sent whole.
    try:
        file = await asyncio.to_thread(path.open, "rb")
    except FileNotFoundError as exc:
        raise errors.NotFound(f"model {path.name} was just deleted from models/") from exc
    try:
        await _send(request, file, path, headers)
    finally:
        await asyncio.to_thread(file.close)
    return None


def _check_token(request: Request) -> None:
    """401 unless ``?token=`` is the Rasa token of the settings (constant-time compare)."""
    expected = request.app.ctx.config.retraining.rasa_token
    given = request.args.get("token") or ""
    if not expected:
        raise errors.AuthError(
            "the model server needs a token: set RASA_TOKEN (the Rasa servers' --auth-token) "
            "and `token:` under `models:` in endpoints.yml"
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise errors.AuthError("wrong or missing `token` (the Rasa servers' --auth-token)")


def _matches(if_none_match: Optional[str], name: str) -> bool:
    """Whether ``If-None-Match`` names ``name``: quoted or bare (Rasa echoes the ETag as
    it got it), weak or strong, one of a list, or ``*``."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == "*" or tag.strip('"') == name:
            return True
    return False


async def _send(request: Request, file: BinaryIO, path: Path, headers: dict) -> None:
    size = os.fstat(file.fileno()).st_size
    response = await request.respond(
        content_type="application/gzip",
        headers={
            **headers,
            "Content-Length": str(size),
            # Rasa saves the download under this name and reports it in /status.
            "filename": path.name,
            "Content-Disposition": f'attachment; filename="{path.name}"',
        },
    )
    while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
        await response.send(chunk)
    await response.eof()
