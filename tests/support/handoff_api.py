"""The handoff service served for real in the test's event loop, and an HTTP client for it."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import aiohttp

from handoff.service.app import create_app
from tests.support.auth import PASSWORD
from tests.support.sanic_server import serving


class Api:
    """A small HTTP client for the service under test."""

    def __init__(self, base: str, session: aiohttp.ClientSession):
        self.base = base
        self.session = session

    async def call(self, method, path, token=None, body=None, data=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base + path, headers=headers, json=body, data=data
        ) as resp:
            text = await resp.text()
            try:
                payload = json.loads(text)
            except ValueError:
                payload = text
            return resp.status, payload

    async def try_login(self, username, password=PASSWORD):
        return await self.call(
            "POST", "/api/login", body={"username": username, "password": password}
        )

    async def login(self, username, password=PASSWORD):
        status, body = await self.try_login(username, password)
        assert status == 200, body
        return body["token"]


def error_code(body):
    return body["error"]["code"]


@asynccontextmanager
async def running(config):
    """Serve ``create_app(config)`` on a free port; yield (app, base URL)."""
    app = create_app(config)
    async with serving(app) as url:
        yield app, url
