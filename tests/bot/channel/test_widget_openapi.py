"""The widget OpenAPI document describes exactly the channel's routes; the channel serves it."""

from __future__ import annotations

import aiohttp
import yaml

from bot.channel.widget import WidgetInput, WidgetSettings
from handoff.core.settings import REPO_ROOT, HandoffConfig
from tests.support import openapi
from tests.support.widget import SECRET, serving

DOC = REPO_ROOT / "docs" / "widget-api.openapi.yaml"
PREFIX = "/webhooks/widget"


def channel():
    shared = HandoffConfig(secret=SECRET, redis_url="redis://127.0.0.1:1/0")  # never connected
    return WidgetInput(WidgetSettings(shared=shared))


async def ignore(message):
    return None


def served_routes():
    blueprint = channel().blueprint(ignore)
    pairs = set()
    for route in blueprint._future_routes:
        pairs |= openapi.as_routes(PREFIX + route.uri, route.methods or {"GET"})
    return pairs


def test_every_route_is_documented_and_nothing_else():
    doc = openapi.load(DOC)
    assert doc["openapi"].startswith("3.0")
    assert openapi.documented_routes(doc) == served_routes()


def test_every_reference_resolves():
    assert openapi.unresolved_references(DOC) == []


async def test_the_channel_serves_its_document():
    async with serving(channel(), ignore) as (_app, url):
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}{PREFIX}/openapi.yaml") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("application/yaml")
                assert yaml.safe_load(await resp.text())["info"]["title"] == "Website widget API"
