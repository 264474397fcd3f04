"""A real HTTP receiver for webhooks: an aiohttp app on a free loopback port, started on demand.

It records every request (headers and the exact body bytes) and answers with the statuses
it is told to, so a test can take it down, bring it up later, or make it fail.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from aiohttp import web

from tests.support.redis_server import free_port


class Receiver:
    """Records POSTs to ``/hooks``; ``statuses`` are answered in turn, then 200."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.requests: List[Dict[str, Any]] = []
        self.statuses: List[int] = []
        self.always: int = 200
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def deliveries(self) -> List[str]:
        return [r["headers"]["X-Handoff-Delivery"] for r in self.requests]

    def types(self) -> List[str]:
        return [json.loads(r["body"])["type"] for r in self.requests]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append({"headers": dict(request.headers), "body": body})
        status = self.statuses.pop(0) if self.statuses else self.always
        return web.Response(status=status, text="ok" if status < 300 else "no")
