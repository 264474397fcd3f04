"""The pages the handoff service serves to browsers: demo store, CSR console, admin page,
metrics page, widget files.

Plain files from ``handoff/service/static/`` (no build step, nothing fetched from the
internet). None of them needs a login: the console logs in through the API,
whose routes stay protected.

``/demo`` is the one page rendered per request: its widget tag must point at
Rasa, so ``{{RASA_URL}}`` in ``demo.html`` becomes the configured ``rasa_url``
(the address browsers reach Rasa at), and its Content-Security-Policy lets the
widget connect there (HTTP and WebSocket) and nowhere else.

Every response of this module carries a Content-Security-Policy, ``nosniff``,
``X-Frame-Options: DENY`` (and ``frame-ancestors 'none'``) and a Referrer-Policy.
"""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from typing import Dict
from urllib.parse import urlsplit

from sanic import Request, Sanic
from sanic.exceptions import NotFound
from sanic.response import HTTPResponse, raw, redirect

STATIC_DIR = Path(__file__).resolve().parent / "static"
RASA_URL_PLACEHOLDER = "{{RASA_URL}}"

# Only plain file names directly in STATIC_DIR: no sub-folders, no "..", no hidden files.
_FILE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")

HTML = "text/html; charset=utf-8"
# What /static/ serves. Not .html: pages go through their own routes, which add
# their headers (the console's Content-Security-Policy) and fill in the Rasa URL.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}

# Revalidate on every load: a deployment's new widget reaches customers at once.
# No page or file of ours is meant to be framed, and none needs to tell other sites
# where a visitor came from.
BASE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

# Scripts, style sheets and images are not documents: nothing may run in them (an SVG
# opened directly), nothing may frame them.
STATIC_CSP = "default-src 'none'; frame-ancestors 'none'"

# The console shows customers' text: a strict policy is a second line of defence
# behind escaping (no inline script or style, no foreign connections, no framing).
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def demo_csp(rasa_url: str) -> str:
    """The demo store's policy: its own files, and the widget talking to Rasa.

    ``connect-src`` names Rasa's origin in its HTTP and WebSocket forms (the widget's
    ``fetch`` and ``WebSocket``). Bot messages may show images from any HTTPS site. Style
    elements are allowed because the widget falls back to one in its shadow root where
    constructable style sheets are missing (it sets no style attributes). A store
    embedding the widget needs the same ``connect-src`` and ``script-src`` entries.
    """
    connect = ["'self'"]
    parts = urlsplit(rasa_url)
    if parts.scheme in ("http", "https") and parts.netloc and not set(parts.netloc) & set(" ;,'"):
        origin = f"{parts.scheme}://{parts.netloc}"
        connect += [origin, origin.replace("http", "ws", 1)]
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: https:; connect-src {' '.join(connect)}; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def register(app: Sanic) -> None:
    """Add ``/``, ``/demo``, ``/console``, ``/admin``, ``/metrics`` and ``/static/<file>``."""
    app.add_route(index, "/", methods=["GET"])
    app.add_route(demo, "/demo", methods=["GET"])
    app.add_route(console, "/console", methods=["GET"])
    app.add_route(admin, "/admin", methods=["GET"])
    app.add_route(metrics, "/metrics", methods=["GET"])
    app.add_route(static_file, "/static/<name:str>", methods=["GET"])


async def index(request: Request) -> HTTPResponse:
    """The demo store is the front page."""
    return redirect("/demo", headers={**BASE_HEADERS, "Content-Security-Policy": STATIC_CSP})


async def demo(request: Request) -> HTTPResponse:
    """The demo store, its widget pointed at the configured Rasa URL."""
    page = (await _read("demo.html")).decode("utf-8")
    rasa_url = request.app.ctx.config.rasa_url.rstrip("/")
    page = page.replace(RASA_URL_PLACEHOLDER, html.escape(rasa_url, quote=True))
    return raw(
        page.encode("utf-8"),
        content_type=HTML,
        headers={
            **BASE_HEADERS,
            "Content-Security-Policy": demo_csp(rasa_url),
            "Referrer-Policy": "strict-origin-when-cross-origin",
        },
    )


async def console(request: Request) -> HTTPResponse:
    """The CSR console (it logs in through ``POST /api/login``)."""
    return raw(
        await _read("console.html"),
        content_type=HTML,
        headers={**BASE_HEADERS, "Content-Security-Policy": CONSOLE_CSP},
    )


async def admin(request: Request) -> HTTPResponse:
    """The admin page for retraining the bot (it logs in through ``POST /api/login``)."""
    return raw(
        await _read("admin.html"),
        content_type=HTML,
        headers={**BASE_HEADERS, "Content-Security-Policy": CONSOLE_CSP},
    )


async def metrics(request: Request) -> HTTPResponse:
    """The support lead's metrics page (it logs in through ``POST /api/login``; admins only).

    Its charts are drawn by the vendored Chart.js (``static/chart.umd.min.js``) on
    canvases: no inline script or style, so the console's policy holds.
    """
    return raw(
        await _read("metrics.html"),
        content_type=HTML,
        headers={**BASE_HEADERS, "Content-Security-Policy": CONSOLE_CSP},
    )


async def static_file(request: Request, name: str) -> HTTPResponse:
    """One file of ``handoff/service/static/`` (404 for anything else)."""
    suffix = Path(name).suffix.lower()
    if not _FILE_NAME.match(name) or suffix not in CONTENT_TYPES:
        raise NotFound(f"no static file {name!r}")
    headers: Dict[str, str] = {**BASE_HEADERS, "Content-Security-Policy": STATIC_CSP}
    if name == "widget.js":
        # Stores embed the widget from their own origin.
        headers["Access-Control-Allow-Origin"] = "*"
    return raw(await _read(name), content_type=CONTENT_TYPES[suffix], headers=headers)


async def _read(name: str) -> bytes:
    path = STATIC_DIR / name
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise NotFound(f"no static file {name!r}") from exc
