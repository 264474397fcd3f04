"""Every failure the API fuzz found, as a plain request against the running stack.

Each was a 500, an answer the OpenAPI document did not list, or a body that is not JSON; the
test names say what the answer is now. Found by schemathesis (tests/api_fuzz/test_*_api.py,
test_stateful.py) or by probing the same inputs by hand while writing the documents.
"""

from __future__ import annotations

import itertools
import json

import pytest
import requests

from bot.devtools.stack import DEMO_PASSWORD

pytestmark = pytest.mark.model

_ADDRESSES = itertools.count(1)


def send(method, url, token=None, body=None, headers=None):
    """One request from an address of its own (10.255.x.y; the stack trusts X-Real-IP)."""
    n = next(_ADDRESSES)
    sent = {"X-Real-IP": f"10.255.{n // 250}.{n % 250 + 1}", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body)
    if data is not None:
        sent["Content-Type"] = "application/json"
    return requests.request(method, url, data=data, headers=sent, timeout=60, allow_redirects=False)


def code(response):
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()["error"]["code"]


@pytest.fixture(scope="module")
def admin(stack):
    response = send(
        "POST",
        f"{stack.handoff_url}/api/login",
        body={"username": "admin", "password": DEMO_PASSWORD},
    )
    return response.json()["token"]


@pytest.fixture(scope="module")
def customer(stack):
    return send("POST", f"{stack.rasa_url}/webhooks/widget/session").json()["token"]


# ---- the WebSockets: a plain GET was a 500 (Sanic's failed handshake) -----------------------


def test_a_plain_get_of_the_console_socket_is_426(stack, admin):
    response = send("GET", f"{stack.handoff_url}/api/events?token={admin}")
    assert response.status_code == 426 and code(response) == "upgrade_required"
    assert response.headers["Upgrade"] == "websocket"


def test_a_plain_get_of_the_widget_socket_is_426(stack, customer):
    response = send("GET", f"{stack.rasa_url}/webhooks/widget/ws?token={customer}")
    assert response.status_code == 426 and code(response) == "upgrade_required"
    assert response.headers["Upgrade"] == "websocket"


@pytest.mark.parametrize("where", ["handoff", "widget"])
def test_an_upgrade_without_a_websocket_key_is_400(stack, admin, customer, where):
    url = (
        f"{stack.handoff_url}/api/events?token={admin}"
        if where == "handoff"
        else f"{stack.rasa_url}/webhooks/widget/ws?token={customer}"
    )
    response = send("GET", url, headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert response.status_code == 400 and code(response) == "invalid_handshake"


# ---- statuses the handoff document did not list ----------------------------------------------


@pytest.mark.parametrize("action", ["typing", "release"])
def test_a_malformed_conversation_id_is_400_for_typing_and_release(stack, admin, action):
    response = send("POST", f"{stack.handoff_url}/api/conversations/%C3%BA%0A/{action}", admin)
    assert response.status_code == 400 and code(response) == "invalid_input"


def test_cancelling_when_no_training_runs_is_404_no_job(stack, admin):
    response = send("DELETE", f"{stack.handoff_url}/api/admin/training", admin)
    assert response.status_code == 404 and code(response) == "no_job"


def test_the_front_page_is_a_redirect(stack):
    response = send("GET", f"{stack.handoff_url}/")
    assert response.status_code == 302 and response.headers["Location"] == "/demo"


@pytest.mark.parametrize(
    "path, body, expected",
    [
        ("notes", {"text": " \t "}, "empty_text"),
        ("notes", {"text": "a\x88b"}, "invalid_text"),
        ("messages", {"text": "\x17"}, "invalid_text"),
        ("close", {"resolution": "\x8ek"}, "invalid_text"),
        ("close", {"resolution": "x" * 65}, "text_too_long"),
    ],
)
def test_text_refusals_carry_their_documented_codes(stack, admin, path, body, expected):
    response = send("POST", f"{stack.handoff_url}/api/conversations/k1/{path}", admin, body)
    assert response.status_code == 400 and code(response) == expected


def test_a_wrong_current_password_is_403_wrong_password(stack, fuzz_account):
    response = change_password(stack, fuzz_account, "not-the-password", "another-password")
    assert response.status_code == 403 and code(response) == "wrong_password"


def test_a_new_password_with_a_lone_surrogate_is_400_and_changes_nothing(stack, fuzz_account):
    # It reached scrypt, which hashes UTF-8: a 500.
    username, password = fuzz_account
    response = change_password(stack, fuzz_account, password, "long enough \ud800")
    assert response.status_code == 400 and code(response) == "invalid_input"
    again = send(
        "POST", f"{stack.handoff_url}/api/login", body={"username": username, "password": password}
    )
    assert again.status_code == 200


@pytest.mark.parametrize("since", ["nan", "inf", "-inf", "1e400"])
def test_metrics_since_must_be_finite(stack, admin, since):
    # NaN made the Redis query fail (500); infinity was answered as `"since": Infinity`,
    # which is not JSON.
    response = send("GET", f"{stack.handoff_url}/api/metrics?since={since}", admin)
    assert response.status_code == 400 and code(response) == "invalid_input"


# ---- the retraining admin routes: 500s of the first measurement ------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"topic": "gift_wrapping", "examples": [1, 2], "answer": "We wrap."},
        {"topic": ["gift"], "examples": ["a?", "b?"], "answer": "We wrap."},
        {"topic": "gift_wrapping", "examples": "wrap it?", "answer": "We wrap."},
        {"topic": "gift_wrapping", "examples": ["a?", "b?"], "answer": {"text": "We wrap."}},
        {"topic": "gift_wrapping", "examples": ["a\x00?", "b?"], "answer": "We wrap."},
    ],
)
def test_a_bad_faq_is_400_invalid_faq(stack, admin, body):
    response = send("POST", f"{stack.handoff_url}/api/admin/faq", admin, body)
    assert response.status_code == 400 and code(response) == "invalid_faq"


@pytest.mark.parametrize("action", [["confirm"], {"a": 1}, 3, None, "relabel\x00"])
def test_a_bad_label_action_is_400_invalid_label(stack, admin, action):
    url = f"{stack.handoff_url}/api/admin/review/0123456789abcdef/label"
    response = send("POST", url, admin, {"action": action})
    assert response.status_code == 400 and code(response) == "invalid_label"


@pytest.mark.parametrize("item_id", ["x", "0123456789ABCDEFG", "%F0%9F%99%83"])
def test_a_malformed_review_item_id_is_404(stack, admin, item_id):
    url = f"{stack.handoff_url}/api/admin/review/{item_id}/label"
    response = send("POST", url, admin, {"action": "ignore"})
    assert response.status_code == 404 and code(response) == "item_not_found"


# ---- the widget: outbox ids Redis refuses, metadata Redis cannot store ----------------------


@pytest.mark.parametrize(
    "after",
    [
        "99999999999999999999999-0",  # beyond 2**64 - 1: "ERR Invalid stream ID", a 500
        "1-18446744073709551616",
        "%D9%A1%D9%A2",  # Arabic-Indic digits matched \d
        "1-0%0A",  # a trailing newline matched $
    ],
)
def test_an_after_redis_would_refuse_is_400(stack, customer, after):
    response = send("GET", f"{stack.rasa_url}/webhooks/widget/messages?after={after}", customer)
    assert response.status_code == 400 and code(response) == "invalid_input"


def test_nothing_comes_after_the_last_possible_id(stack, customer):
    # As an exclusive start Redis refuses it ("invalid start ID for the interval"): a 500.
    last = "18446744073709551615-18446744073709551615"
    response = send("GET", f"{stack.rasa_url}/webhooks/widget/messages?after={last}", customer)
    assert response.status_code == 200 and response.json() == {"messages": [], "more": False}


@pytest.mark.parametrize("field", ["page_url", "locale"])
def test_metadata_with_a_lone_surrogate_is_400(stack, customer, field):
    # Redis stores UTF-8: the session and the message both answered 500.
    session = send("POST", f"{stack.rasa_url}/webhooks/widget/session", body={field: "x\udfff"})
    assert session.status_code == 400 and code(session) == "invalid_input"
    message = send(
        "POST",
        f"{stack.rasa_url}/webhooks/widget/messages",
        customer,
        {"text": "hi", "metadata": {field: "\ud800"}},
    )
    assert message.status_code == 400 and code(message) == "invalid_input"


def change_password(stack, fuzz_account, current, new):
    """``POST /api/me/password`` as the fuzz's own CSR account."""
    username, password = fuzz_account
    login = send(
        "POST", f"{stack.handoff_url}/api/login", body={"username": username, "password": password}
    )
    return send(
        "POST",
        f"{stack.handoff_url}/api/me/password",
        login.json()["token"],
        {"current_password": current, "new_password": new},
    )


@pytest.mark.parametrize("since", ["Infinity", "nan", "-inf"])
def test_a_review_time_that_is_no_time_is_400_invalid_filter(stack, admin, since):
    # Documented as invalid_filter like the review's other filters; it answered invalid_input.
    response = send("GET", f"{stack.handoff_url}/api/admin/review?since={since}", admin)
    assert response.status_code == 400 and code(response) == "invalid_filter"


def test_a_wrong_inbound_email_key_is_401_invalid_inbound_key(stack):
    # The code was missing from the document's error codes (the fuzz's schema check failed).
    response = send("POST", f"{stack.handoff_url}/api/inbound/email?key=wrong", body={})
    assert response.status_code == 401 and code(response) == "invalid_inbound_key"
