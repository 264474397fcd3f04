"""The Origin check of both WebSockets (the console's /api/events on the handoff service, the
widget's /webhooks/widget/ws on Rasa) with real WebSocket clients: a page from an origin that
is not in ``allowed_origins`` gets 403 before the upgrade; the default allows where ``make run``
serves the demo store and the console; a client sending no Origin is not a browser and is let
through to the token check."""

from __future__ import annotations

import aiohttp
import pytest

from bot.channel.widget import WidgetInput, WidgetSettings
from handoff.core.errors import ConfigError
from handoff.core.settings import from_mapping, load_config
from tests.support.clients import WidgetCustomer
from tests.support.security import another_handoff_service, login, ws_open, ws_url
from tests.support.widget import SECRET, FakeBot, serving

FOREIGN = ("http://evil.example", "https://shop.example.attacker.test", "null", "http://127.0.0.1")


def demo_origins(stack):
    """Where the stack serves the demo store and the console (the default allowlist)."""
    return [f"http://127.0.0.1:{stack.handoff_port}", f"http://localhost:{stack.handoff_port}"]


async def test_the_console_socket_checks_the_origin(stack, csr_token):
    url = ws_url(stack.handoff_url, "/api/events", token=csr_token)
    for origin in [*demo_origins(stack), None]:
        status, hello = await ws_open(url, origin=origin)
        assert status is None and hello["type"] == "hello", origin
    for origin in FOREIGN:
        assert await ws_open(url, origin=origin) == (403, None), origin


async def test_the_widget_socket_checks_the_origin(stack):
    customer = WidgetCustomer(stack.rasa_url)
    customer.say("hello")
    url = ws_url(stack.rasa_url, "/webhooks/widget/ws", token=customer.token)
    for origin in [*demo_origins(stack), None]:
        status, first = await ws_open(url, origin=origin)
        assert status is None and first["type"] == "message", origin
    for origin in FOREIGN:
        assert await ws_open(url, origin=origin) == (403, None), origin


async def test_the_origin_is_checked_before_the_token(stack):
    # A refused page learns nothing about tokens: 403 whatever it sends.
    for url in (
        ws_url(stack.handoff_url, "/api/events", token="whatever"),
        ws_url(stack.rasa_url, "/webhooks/widget/ws", token="whatever"),
    ):
        assert await ws_open(url, origin="http://evil.example") == (403, None)


async def test_allowed_origins_from_the_environment(stack, csr, tmp_path):
    env = {"HANDOFF_ALLOWED_ORIGINS": "https://support.example.com, http://127.0.0.1:9999"}
    with another_handoff_service(stack, tmp_path, env) as other:
        url = ws_url(other.handoff_url, "/api/events", token=login(other.handoff_url, csr))
        for origin in ("https://support.example.com", "https://support.example.com:443"):
            status, hello = await ws_open(url, origin=origin)
            assert status is None and hello["type"] == "hello", origin
        # An explicit list replaces the default.
        own = f"http://127.0.0.1:{other.handoff_port}"
        assert await ws_open(url, origin=own) == (403, None)


async def test_the_widget_takes_the_allowlist_from_the_shared_settings(redis_url):
    # The channel in a real Sanic server on the session's Redis, with a list of store sites.
    shared = from_mapping(
        {"redis_url": redis_url, "secret": SECRET, "allowed_origins": ["https://shop.example"]}
    )
    channel = WidgetInput(WidgetSettings(shared=shared))
    async with serving(channel, FakeBot().handle) as (_, base):
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/webhooks/widget/session") as response:
                token = (await response.json())["token"]
        url = ws_url(base, "/webhooks/widget/ws", token=token)
        for origin in ("https://shop.example", None):
            status, _ = await ws_open(url, origin=origin, timeout=2)
            assert status is None, origin
        assert await ws_open(url, origin="https://other-shop.example") == (403, None)


def test_the_setting_is_validated_and_normalised():
    config = from_mapping({"allowed_origins": ["HTTPS://Shop.Example:443/", "http://a.test:8080"]})
    assert config.allowed_origins == ("https://shop.example", "http://a.test:8080")
    assert config.origin_allowed("https://shop.example")
    assert not config.origin_allowed("https://shop.example:8443")
    assert from_mapping({"allowed_origins": ["*"]}).origin_allowed("https://anything.test")
    for bad in (["shop.example"], ["ftp://shop.example"], ["https://shop.example/path"], "x"):
        with pytest.raises(ConfigError, match="allowed_origins"):
            from_mapping({"allowed_origins": bad})
    from_env = load_config(env={"HANDOFF_ALLOWED_ORIGINS": "https://a.test, https://b.test"})
    assert from_env.allowed_origins == ("https://a.test", "https://b.test")


def test_the_default_is_where_the_service_serves_its_pages():
    assert load_config(env={}).websocket_origins() == (
        "http://127.0.0.1:5080",
        "http://localhost:5080",
    )
    public = from_mapping({"host": "support.example.com", "port": 8080})
    assert public.websocket_origins() == ("http://support.example.com:8080",)
