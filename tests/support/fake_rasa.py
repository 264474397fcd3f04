"""A real (tiny) Rasa HTTP API that records what it is asked.

It answers the endpoints the handoff service calls: tracker events and triggered intents
(``/conversations/<id>/tracker/events``, ``/conversations/<id>/execute``) and the model
endpoints of ``rasa run --enable-api`` (``GET /status``, ``PUT /model``).

The server runs in a thread with its own event loop, so one instance serves the whole
session: tests in a function-scoped loop and services in a module-scoped loop call it alike.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from aiohttp import web

TOKEN = "rasa-token"
ORIGINAL_MODEL = "storefront-original.tar.gz"


class FakeRasa:
    """Rasa's HTTP API as far as the handoff service uses it; every call is recorded."""

    def __init__(self, token: str = TOKEN):
        self.token = token
        self.url = ""
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._runner: Optional[web.AppRunner] = None
        self.reset()

    def reset(self) -> None:
        """Forget the calls and answer normally again (the state a test starts from)."""
        # Tracker events and executed intents, in order: {"path", "query", "json"}.
        self.calls: List[Dict[str, Any]] = []
        # Every endpoint answers 500 while True.
        self.down = False
        # What the bot says when an intent is triggered (``/execute``).
        self.greeting = [{"recipient_id": "x", "text": "Hi again! How can I help?"}]
        # The model ``GET /status`` reports (None: no model loaded), and the paths
        # ``PUT /model`` was asked to load.
        self.model_file: Optional[str] = ORIGINAL_MODEL
        self.loaded: List[str] = []

    def paths(self) -> List[str]:
        return [c["path"] for c in self.calls]

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fake-rasa", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        self.url = asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)

    def stop(self) -> None:
        assert self._loop is not None and self._thread is not None and self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @classmethod
    @contextmanager
    def running(cls, token: str = TOKEN) -> Iterator["FakeRasa"]:
        rasa = cls(token)
        rasa.start()
        try:
            yield rasa
        finally:
            rasa.stop()

    async def _serve(self) -> str:
        app = web.Application()
        app.router.add_post("/conversations/{conv_id}/tracker/events", self._events)
        app.router.add_post("/conversations/{conv_id}/execute", self._trigger)
        app.router.add_get("/status", self._status)
        app.router.add_put("/model", self._model)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    # ---- handlers -----------------------------------------------------------------------

    def _refusal(self, request: web.Request) -> Optional[web.Response]:
        if request.query.get("token") != self.token:
            return web.json_response({"message": "unauthorized"}, status=401)
        if self.down:
            return web.json_response({"message": "boom"}, status=500)
        return None

    async def _events(self, request: web.Request) -> web.Response:
        return await self._record(request, {"events": None})

    async def _trigger(self, request: web.Request) -> web.Response:
        return await self._record(request, {"tracker": {}, "messages": self.greeting})

    async def _record(self, request: web.Request, body: Dict[str, Any]) -> web.Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        self.calls.append(
            {
                "path": request.rel_url.raw_path,
                "query": dict(request.query),
                "json": await request.json(),
            }
        )
        return web.json_response(body)

    async def _status(self, request: web.Request) -> web.Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if self.model_file is None:  # what Rasa answers before a model is loaded
            return web.json_response({"message": "No agent loaded"}, status=409)
        return web.json_response(
            {"model_file": self.model_file, "model_id": "x", "num_active_training_jobs": 0}
        )

    async def _model(self, request: web.Request) -> web.Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        body = await request.json()
        self.loaded.append(body["model_file"])
        self.model_file = Path(body["model_file"]).name
        return web.Response(status=204)
