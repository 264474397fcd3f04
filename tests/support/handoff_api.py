"""The handoff service served for real in the test's event loop, its test settings, the staff
accounts the API tests log in as, and an HTTP client for it."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Dict, Optional

import aiohttp

from handoff.core.auth import Auth
from handoff.core.settings import HandoffConfig, from_mapping
from handoff.service.app import create_app
from tests.support.auth import FAST_SCRYPT_N, PASSWORD, SECRET
from tests.support.sanic_server import serving

if TYPE_CHECKING:
    from tests.support.fake_rasa import FakeRasa

# The staff of the API tests: username -> (role, display name). Every one has PASSWORD.
STAFF = {"alice": ("csr", "Alice"), "bob": ("csr", "Bob"), "root": ("admin", "Ada Admin")}


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


def service_config(
    redis_url: str, rasa: Optional["FakeRasa"] = None, **settings: Any
) -> HandoffConfig:
    """The service's settings in tests: the test secret on ``redis_url``, ``settings`` added.

    Rasa is off (``rasa_url`` empty) unless ``rasa`` gives the fake Rasa to call.
    """
    values: Dict[str, Any] = {"redis_url": redis_url, "secret": SECRET, "rasa_url": ""}
    if rasa is not None:
        values.update(rasa_url=rasa.url, rasa_token=rasa.token)
    return from_mapping({**values, **settings})


@asynccontextmanager
async def running(config: HandoffConfig, **ctx: Any):
    """Serve ``create_app(config)`` on a free port; yield (app, base URL).

    ``ctx`` replaces objects on ``app.ctx`` once the app has started (its listeners set them
    first), e.g. ``order_system=SQLiteOrderSystem(...)``.
    """
    app = create_app(config)
    async with serving(app) as url:
        for name, value in ctx.items():
            setattr(app.ctx, name, value)
        yield app, url


async def create_staff(redis, *usernames: str) -> None:
    """Create the ``STAFF`` accounts named (cheap scrypt, password ``PASSWORD``)."""
    auth = Auth(redis, SECRET, scrypt_n=FAST_SCRYPT_N)
    for username in usernames:
        role, display_name = STAFF[username]
        await auth.create_account(username, PASSWORD, role, display_name=display_name)


async def log_in(api: Api, *usernames: str) -> Dict[str, str]:
    """Each username's token, by username."""
    return {username: await api.login(username) for username in usernames}


async def staff_tokens(api: Api, redis, *usernames: str) -> Dict[str, str]:
    """Create the ``STAFF`` accounts named and log each in: their tokens, by username."""
    await create_staff(redis, *usernames)
    return await log_in(api, *usernames)
