"""CSR token lifetime on the real stack: tokens expire, logging out revokes one, a password
change (from the console's API or the accounts CLI) revokes every token of that user, and an
open console socket of a token that stopped being valid is closed."""

from __future__ import annotations

import websockets

from tests.support.auth import run_accounts_cli
from tests.support.clients import call
from tests.support.security import (
    PASSWORD,
    another_handoff_service,
    create_account,
    login,
    ws_frames_until_closed,
    ws_open,
    ws_url,
)
from tests.support.waiting import wait_until

NEW_PASSWORD = "a-brand-new-pass-42"
# The service checks an open socket's token every 5 s (routes.TOKEN_RECHECK_SECONDS).
SOCKET_RECHECK = 12.0


def me(handoff_url, token):
    return call("GET", f"{handoff_url}/api/me", token=token)


def error_message(body):
    return body["error"]["message"]


def test_token_expires_after_token_ttl_seconds(stack, csr, tmp_path):
    with another_handoff_service(stack, tmp_path, {"HANDOFF_TOKEN_TTL_SECONDS": "2"}) as short:
        status, body = call(
            "POST", f"{short.handoff_url}/api/login", {"username": csr, "password": PASSWORD}
        )
        assert status == 200 and body["expires_in"] == 2
        token = body["token"]
        assert me(short.handoff_url, token)[0] == 200
        status, body = wait_until(
            lambda: (lambda r: r if r[0] != 200 else None)(me(short.handoff_url, token)),
            timeout=10,
            what="the token to expire",
        )
        assert status == 401 and "expired" in error_message(body)
    # The same token is refused by the stack's own service too (one secret, one rule).
    status, body = me(stack.handoff_url, token)
    assert status == 401 and "expired" in error_message(body)


async def test_an_open_console_socket_closes_when_its_token_expires(stack, csr, tmp_path):
    with another_handoff_service(stack, tmp_path, {"HANDOFF_TOKEN_TTL_SECONDS": "3"}) as short:
        token = login(short.handoff_url, csr)
        async with websockets.connect(ws_url(short.handoff_url, "/api/events", token=token)) as ws:
            frames, code = await ws_frames_until_closed(ws, timeout=3 + SOCKET_RECHECK)
        assert frames[0]["type"] == "hello"
        assert frames[-1]["type"] == "error" and frames[-1]["error"]["code"] == "unauthorized"
        assert code == 4401


async def test_logout_revokes_that_token_everywhere_and_only_that_one(stack, csr):
    first, second = login(stack.handoff_url, csr), login(stack.handoff_url, csr)
    async with websockets.connect(ws_url(stack.handoff_url, "/api/events", token=first)) as ws:
        assert (await ws.recv()).startswith('{"type": "hello"')
        status, body = call("POST", f"{stack.handoff_url}/api/logout", {}, first)
        assert (status, body) == (200, {"ok": True})
        frames, code = await ws_frames_until_closed(ws, timeout=SOCKET_RECHECK)
    assert code == 4401 and frames[-1]["type"] == "error"

    status, body = me(stack.handoff_url, first)
    assert status == 401 and "revoked" in error_message(body)
    assert call("GET", f"{stack.handoff_url}/api/queue", token=first)[0] == 401
    assert call("POST", f"{stack.handoff_url}/api/logout", {}, first)[0] == 401
    # Refused before the WebSocket handshake, like any bad token.
    assert await ws_open(ws_url(stack.handoff_url, "/api/events", token=first)) == (401, None)
    # Another session of the same CSR is untouched.
    assert me(stack.handoff_url, second)[0] == 200
    assert call("POST", f"{stack.handoff_url}/api/logout")[0] == 401  # no token at all


async def test_password_change_revokes_every_token_of_that_user(stack, csr, csr_token):
    other_session = login(stack.handoff_url, csr)
    bystander = login(stack.handoff_url, create_account(stack))
    url = f"{stack.handoff_url}/api/me/password"

    status, body = call(
        "POST", url, {"current_password": "wrong-guess-1", "new_password": NEW_PASSWORD}, csr_token
    )
    assert status == 403 and body["error"]["code"] == "wrong_password"
    status, body = call(
        "POST", url, {"current_password": PASSWORD, "new_password": "short"}, csr_token
    )
    assert status == 400
    assert me(stack.handoff_url, csr_token)[0] == 200  # refused changes revoke nothing

    async with websockets.connect(
        ws_url(stack.handoff_url, "/api/events", token=other_session)
    ) as ws:
        assert (await ws.recv()).startswith('{"type": "hello"')
        # Within the same second as the logins: the revocation must not depend on the clock.
        status, body = call(
            "POST", url, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, csr_token
        )
        assert status == 200, body
        fresh = body["token"]
        assert body["user"]["username"] == csr and body["token_type"] == "Bearer"
        _, code = await ws_frames_until_closed(ws, timeout=SOCKET_RECHECK)
    assert code == 4401

    for old in (csr_token, other_session):
        status, body = me(stack.handoff_url, old)
        assert status == 401 and "revoked" in error_message(body)
    assert me(stack.handoff_url, fresh)[0] == 200
    assert me(stack.handoff_url, bystander)[0] == 200  # other users keep their sessions
    assert (
        call("POST", f"{stack.handoff_url}/api/login", {"username": csr, "password": PASSWORD})[0]
        == 401
    )
    assert login(stack.handoff_url, csr, NEW_PASSWORD)


def test_accounts_cli_set_password_revokes_every_token(stack, csr, csr_token):
    another = login(stack.handoff_url, csr)
    done = accounts_cli(
        stack, "set-password", "--username", csr, "--password-stdin", stdin=f"{NEW_PASSWORD}\n"
    )
    assert done.returncode == 0, done.stderr
    assert "revoked" in done.stdout
    for old in (csr_token, another):
        status, body = me(stack.handoff_url, old)
        assert status == 401 and "revoked" in error_message(body)
    assert login(stack.handoff_url, csr, NEW_PASSWORD)


def test_deleting_an_account_revokes_its_tokens(stack, csr, csr_token):
    done = accounts_cli(stack, "delete", "--username", csr)
    assert done.returncode == 0, done.stderr
    assert me(stack.handoff_url, csr_token)[0] == 401


def accounts_cli(stack, *args, stdin=None):
    """``python -m handoff.service.accounts`` against the stack's Redis."""
    return run_accounts_cli(
        *args, env={**stack.extra_env, "REDIS_URL": stack.redis_url}, stdin=stdin
    )
