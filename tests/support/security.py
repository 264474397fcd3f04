"""Helpers of the security tests (tests/security/): accounts and tokens on the running stack,
WebSocket clients that report a refusal's status, a second handoff service with other
settings, and the stack's log files."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlencode

import redis.asyncio as aioredis
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatusCode

from tests.support.auth import FAST_SCRYPT_N
from tests.support.redis_server import free_port

if TYPE_CHECKING:
    from bot.devtools.stack import StackSettings

PASSWORD = "security-test-pass"


def stack_secret(stack: "StackSettings") -> str:
    """The token secret the stack's processes use (same file, same environment as theirs)."""
    from handoff.core.settings import load_config

    return load_config(Path(stack.extra_env["HANDOFF_CONFIG"])).secret


def create_account(stack: "StackSettings", role: str = "csr") -> str:
    """A fresh account on the stack's Redis (password ``PASSWORD``); returns its username."""
    from handoff.core.auth import Auth

    username = f"sec-{role}-{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        client = aioredis.from_url(stack.redis_url, decode_responses=True)
        try:
            await Auth(client, "unused-for-accounts", scrypt_n=FAST_SCRYPT_N).create_account(
                username, PASSWORD, role
            )
        finally:
            await client.close()

    # In a thread of its own: the calling test may be running an event loop already.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, create()).result()
    return username


def ws_url(http_url: str, path: str, **query: str) -> str:
    """``ws://`` form of ``http_url`` + ``path`` with a query string."""
    url = re.sub(r"^http", "ws", http_url) + path
    return f"{url}?{urlencode(query)}" if query else url


async def ws_open(
    url: str, origin: Optional[str] = None, timeout: float = 10.0
) -> Tuple[Optional[int], Optional[Dict[str, Any]]]:
    """Open a WebSocket: ``(None, first frame or None)`` when it opened, ``(status, None)``
    when the server refused the upgrade with an HTTP status (the handshake never completed)."""
    try:
        async with websockets.connect(url, origin=origin, open_timeout=timeout) as ws:
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout)
            except asyncio.TimeoutError:
                return None, None
            return None, json.loads(frame)
    except InvalidStatusCode as refused:
        return refused.status_code, None


async def ws_frames_until_closed(ws: Any, timeout: float) -> Tuple[List[Dict[str, Any]], int]:
    """Every JSON frame until the server closes the socket, and the close code."""
    frames: List[Dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"socket still open after {timeout}s; frames: {frames}")
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
    except ConnectionClosed:
        return frames, ws.close_code


async def ws_frames_for(ws: Any, seconds: float) -> List[Dict[str, Any]]:
    """The JSON frames that arrive within ``seconds`` (the socket stays open)."""
    frames: List[Dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except asyncio.TimeoutError:
            break
    return frames


@contextmanager
def another_handoff_service(
    stack: "StackSettings", workdir: Path, env: Dict[str, str]
) -> Iterator["StackSettings"]:
    """A second ``python -m handoff.service`` on the stack's Redis with extra environment."""
    from bot.devtools.stack import handoff_service

    settings = replace(
        stack,
        handoff_port=free_port(),
        log_dir=workdir / "log",
        extra_env={**stack.extra_env, **env},
    )
    with handoff_service(settings):
        yield settings


def stack_logs(stack: "StackSettings") -> Dict[str, str]:
    """Every log file of the stack (Redis, action server, Rasa, handoff service), by name."""
    return {
        path.name: path.read_text(errors="replace")
        for path in sorted(Path(stack.log_dir).rglob("*"))
        if path.is_file()
    }


def jwt_parts(token: str) -> List[str]:
    """What must never be logged of a JWT: the whole token and its signature on its own."""
    return [token, token.rsplit(".", 1)[-1]]


def login(handoff_url: str, username: str, password: str = PASSWORD) -> str:
    """A CSR/admin token from ``POST /api/login``."""
    from tests.support.clients import call

    status, body = call(
        "POST", f"{handoff_url}/api/login", {"username": username, "password": password}
    )
    assert status == 200, body
    return body["token"]
