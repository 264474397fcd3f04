"""Run a Sanic 21.12 app for real on a free loopback port inside the test's event loop."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from sanic import Sanic

from tests.support.redis_server import free_port


@asynccontextmanager
async def serving(app: Sanic) -> AsyncIterator[str]:
    """Start ``app`` on 127.0.0.1 and yield its base URL; stop it afterwards.

    Sanic 21.12 rewrites its own methods when an app starts, and a second app in
    the same process then fails unless test mode keeps the originals; the flag
    stays on for the session on purpose, since switching it off breaks the next app.
    """
    Sanic.test_mode = True
    app.config.MOTD = False
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    # create_server only binds; the listeners run when asked.
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        for connection in list(server.connections):
            connection.close_if_idle()
        await server.after_stop()
