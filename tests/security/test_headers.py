"""Security headers on the real stack: every page and static file sends a Content-Security-Policy,
nosniff, no framing and a Referrer-Policy; the demo page's policy lets its widget reach Rasa;
API JSON answers (the handoff service's and the widget channel's) are nosniff and no-store."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from handoff.service.pages import CONTENT_TYPES, STATIC_DIR
from tests.support.clients import WidgetCustomer

PAGES = ("/demo", "/console", "/admin", "/metrics")
STATIC_FILES = sorted(p.name for p in STATIC_DIR.iterdir() if p.suffix in CONTENT_TYPES)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(method, url, token=None, body=None):
    """(status, headers) of one request, errors and redirects included."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def directives(policy):
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def assert_browser_headers(headers, what):
    assert headers["X-Content-Type-Options"] == "nosniff", what
    assert headers["X-Frame-Options"] == "DENY", what
    assert headers["Referrer-Policy"] in ("no-referrer", "strict-origin-when-cross-origin"), what
    policy = directives(headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'none'"], what
    assert "'unsafe-eval'" not in headers["Content-Security-Policy"], what
    return policy


def test_the_static_files_are_found():
    assert {"widget.js", "console.js", "demo.css"} <= set(STATIC_FILES)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_the_security_headers(stack, path):
    status, headers = fetch("GET", f"{stack.handoff_url}{path}")
    assert status == 200
    policy = assert_browser_headers(headers, path)
    assert policy["script-src"] == ["'self'"]  # no inline script on any page
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]


@pytest.mark.parametrize("name", STATIC_FILES)
def test_every_static_file_sends_the_security_headers(stack, name):
    status, headers = fetch("GET", f"{stack.handoff_url}/static/{name}")
    assert status == 200
    policy = assert_browser_headers(headers, name)
    assert policy["default-src"] == ["'none'"]  # nothing runs in a file opened on its own


def test_the_front_page_redirect_sends_them_too(stack):
    status, headers = fetch("GET", f"{stack.handoff_url}/")
    assert status == 302 and headers["Location"] == "/demo"
    assert_browser_headers(headers, "/")


def test_the_demo_policy_lets_the_widget_reach_rasa_and_nothing_else(stack):
    _, headers = fetch("GET", f"{stack.handoff_url}/demo")
    policy = directives(headers["Content-Security-Policy"])
    rasa_ws = f"ws://127.0.0.1:{stack.rasa_port}"
    assert policy["connect-src"] == ["'self'", stack.rasa_url, rasa_ws]
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"]


def test_the_console_policy_connects_only_to_its_own_origin(stack):
    for page in ("/console", "/admin", "/metrics"):
        _, headers = fetch("GET", f"{stack.handoff_url}{page}")
        policy = directives(headers["Content-Security-Policy"])
        assert policy["connect-src"] == ["'self'"] and policy["style-src"] == ["'self'"]


def api_answers(stack):
    """A spread of the service's JSON answers: public, authenticated, refused, unknown."""
    import json

    from tests.support.security import PASSWORD, create_account, login

    admin = create_account(stack, "admin")
    token = login(stack.handoff_url, admin)
    good_login = json.dumps({"username": admin, "password": PASSWORD}).encode()
    bad_login = json.dumps({"username": admin, "password": "wrong-one"}).encode()
    return [
        ("GET", "/health", None, None),
        ("POST", "/api/login", None, good_login),
        ("POST", "/api/login", None, bad_login),
        ("GET", "/api/me", token, None),
        ("GET", "/api/queue", token, None),
        ("GET", "/api/metrics", token, None),
        ("GET", "/api/canned-responses", token, None),
        ("GET", "/api/admin/models", token, None),
        ("GET", "/api/queue", None, None),  # 401
        ("GET", "/api/conversations/nobody-here", token, None),  # 404
        ("GET", "/api/no-such-route", token, None),  # 404
        ("POST", "/api/me/password", token, b"not json"),  # 400
    ]


def test_api_json_answers_are_nosniff_and_no_store(stack):
    seen = set()
    for method, path, token, body in api_answers(stack):
        status, headers = fetch(method, f"{stack.handoff_url}{path}", token, body)
        seen.add(status)
        assert headers["Content-Type"].startswith("application/json"), path
        assert headers["X-Content-Type-Options"] == "nosniff", (method, path, status)
        assert headers["Cache-Control"] == "no-store", (method, path, status)
    assert {200, 400, 401, 404} <= seen


def test_widget_json_answers_are_nosniff_and_no_store(stack):
    customer = WidgetCustomer(stack.rasa_url)
    base = f"{stack.rasa_url}/webhooks/widget"
    for method, path, token, body in [
        ("POST", "/session", None, b"{}"),
        ("POST", "/session", customer.token, b"{}"),
        ("GET", "/messages", customer.token, None),
        ("POST", "/messages", customer.token, b'{"text": "hello"}'),
        ("GET", "/messages", None, None),  # 401
        ("POST", "/leave", customer.token, b"{}"),  # 409
    ]:
        status, headers = fetch(method, f"{base}{path}", token, body)
        assert headers["Content-Type"].startswith("application/json"), (path, status)
        assert headers["X-Content-Type-Options"] == "nosniff", (method, path, status)
        assert headers["Cache-Control"] == "no-store", (method, path, status)
