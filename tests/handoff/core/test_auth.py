"""Accounts, password hashing and tokens."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from handoff.core import keys
from handoff.core.auth import Auth, check_password, hash_password
from handoff.core.errors import (
    AccountExists,
    AccountNotFound,
    AuthError,
    InvalidInput,
    TooManyAttempts,
)
from tests.support.auth import FAST_SCRYPT_N, SECRET
from tests.support.clocks import FakeClock


def test_hashing_is_salted_and_verifies():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second  # random salt
    assert first.startswith("scrypt$16384$8$1$")
    assert check_password("correct horse", first) and check_password("correct horse", second)
    assert not check_password("correct horsE", first)
    assert not check_password("correct horse", "garbage")
    assert not check_password("correct horse", "bcrypt$1$2$3$AAAA$AAAA")
    cheap = hash_password("correct horse", n=2**10)  # each hash carries its own cost
    assert cheap.startswith("scrypt$1024$") and check_password("correct horse", cheap)


async def test_accounts_use_the_configured_cost(redis_client):
    production = Auth(redis_client, SECRET)
    await production.create_account("alice", "s3cret-pass")
    stored = await redis_client.hget(keys.account("alice"), "password")
    assert stored.startswith("scrypt$16384$8$1$")
    assert await production.verify(await production.authenticate("alice", "s3cret-pass"))


async def test_create_and_authenticate(auth, redis_client):
    who = await auth.create_account("Alice", "s3cret-pass", "csr", display_name="Alice A.")
    assert (who.username, who.role, who.display_name) == ("alice", "csr", "Alice A.")
    stored = await redis_client.hgetall(keys.account("alice"))
    assert "s3cret-pass" not in json.dumps(stored)
    token = await auth.authenticate("alice", "s3cret-pass")
    identity = await auth.verify(token)
    assert identity == who and not identity.is_admin
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="handoff")
    assert claims["sub"] == "alice" and claims["role"] == "csr"
    assert claims["exp"] - claims["iat"] == 600
    with pytest.raises(AccountExists):
        await auth.create_account("alice", "another-pass")


async def test_display_names_follow_the_text_rule(auth):
    who = await auth.create_account("zoe", "s3cret-pass", display_name="  Zoë 🌷 Müller ")
    assert who.display_name == "Zoë 🌷 Müller"
    for bad in ("Eve\x1b[31m", "x" * 65, 42):
        with pytest.raises(InvalidInput):
            await auth.create_account("eve", "s3cret-pass", display_name=bad)
    assert await auth.get_account("eve") is None


@pytest.mark.parametrize(
    "username,password,role",
    [
        ("a", "long-enough", "csr"),
        ("bad name", "long-enough", "csr"),
        ("bob", "short", "csr"),
        ("bob", "long-enough", "root"),
        ("bob", None, "csr"),
    ],
)
async def test_create_validates(auth, username, password, role):
    with pytest.raises(InvalidInput):
        await auth.create_account(username, password, role)


async def test_wrong_password_and_unknown_user(auth):
    await auth.create_account("alice", "s3cret-pass")
    for username, password in [
        ("alice", "wrong-pass"),
        ("nobody", "s3cret-pass"),
        ("bad name!", "x"),
        ("alice", None),
    ]:
        with pytest.raises(AuthError, match="invalid username or password"):
            await auth.authenticate(username, password)


async def test_lockout_after_repeated_failures(auth):
    await auth.create_account("alice", "s3cret-pass")
    for _ in range(3):
        with pytest.raises(AuthError):
            await auth.authenticate("alice", "wrong-pass")
    with pytest.raises(TooManyAttempts):
        await auth.authenticate("alice", "s3cret-pass")  # even the right password, for a while


def throttled_auth(redis_client, clock, **limits) -> Auth:
    return Auth(
        redis_client,
        SECRET,
        max_failures=3,
        lockout_seconds=60,
        clock=clock,
        scrypt_n=FAST_SCRYPT_N,
        **limits,
    )


async def test_a_strangers_failures_never_lock_the_csr_out(redis_client):
    # Before: five wrong passwords from anyone locked the account itself for 15 minutes.
    auth = throttled_auth(redis_client, FakeClock())
    await auth.create_account("alice", "s3cret-pass")
    for _ in range(3):
        with pytest.raises(AuthError):
            await auth.authenticate("alice", "guess", address="203.0.113.9")
    with pytest.raises(TooManyAttempts):
        await auth.authenticate("alice", "guess", address="203.0.113.9")
    assert await auth.authenticate("alice", "s3cret-pass", address="198.51.100.7")


async def test_each_further_failure_doubles_the_wait_up_to_the_window(redis_client):
    clock = FakeClock()
    auth = throttled_auth(redis_client, clock)
    await auth.create_account("alice", "s3cret-pass")
    waits = []
    for _ in range(9):
        try:
            await auth.authenticate("alice", "guess", address="a")
        except TooManyAttempts as exc:
            waits.append(exc.retry_after)
            clock.advance(exc.retry_after)
            with pytest.raises(AuthError):  # once the wait is over, a guess is a guess again
                await auth.authenticate("alice", "guess", address="a")
        except AuthError:
            pass
    assert waits == [2, 4, 8, 16, 32, 60]
    with pytest.raises(TooManyAttempts):
        await auth.authenticate("alice", "s3cret-pass", address="a")
    clock.advance(60)
    assert await auth.authenticate("alice", "s3cret-pass", address="a")


async def test_one_address_guessing_many_usernames_is_refused(redis_client):
    auth = throttled_auth(redis_client, FakeClock(), max_address_failures=4)
    await auth.create_account("alice", "s3cret-pass")
    for name in ("ann", "bob", "cy", "dee"):
        with pytest.raises(AuthError):
            await auth.authenticate(name, "guess", address="203.0.113.9")
    with pytest.raises(TooManyAttempts) as refused:
        await auth.authenticate("alice", "s3cret-pass", address="203.0.113.9")
    assert 0 < refused.value.retry_after <= 60
    assert await auth.authenticate("alice", "s3cret-pass", address="198.51.100.7")


async def test_success_resets_the_failure_count(auth):
    await auth.create_account("alice", "s3cret-pass")
    for _ in range(2):
        with pytest.raises(AuthError):
            await auth.authenticate("alice", "wrong-pass")
    await auth.authenticate("alice", "s3cret-pass")
    for _ in range(2):
        with pytest.raises(AuthError):
            await auth.authenticate("alice", "wrong-pass")
    assert await auth.authenticate("alice", "s3cret-pass")


async def test_expired_token(redis_client):
    clock = FakeClock(now=1_000_000.0)  # long ago: tokens issued then are expired now
    old = Auth(redis_client, SECRET, token_ttl_seconds=60, clock=clock, scrypt_n=FAST_SCRYPT_N)
    await old.create_account("alice", "s3cret-pass")
    token = await old.authenticate("alice", "s3cret-pass")
    with pytest.raises(AuthError, match="expired"):
        await old.verify(token)


async def test_tampered_and_foreign_tokens(auth):
    await auth.create_account("alice", "s3cret-pass")
    await auth.create_account("root", "s3cret-pass", "admin")
    token = await auth.authenticate("alice", "s3cret-pass")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"], claims["role"] = "root", "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    other_key = jwt.encode(claims, "some-other-secret-of-sufficient-length!!", algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    for bad in [f"{header}.{forged}.{signature}", other_key, unsigned, "not.a.token", "", None]:
        with pytest.raises(AuthError):
            await auth.verify(bad)


async def test_roles_follow_the_account(auth, redis_client):
    admin = await auth.create_account("root", "s3cret-pass", "admin")
    assert admin.is_admin
    token = await auth.authenticate("root", "s3cret-pass")
    assert (await auth.verify(token)).is_admin
    await redis_client.hset(keys.account("root"), "role", "csr")  # demoted
    assert not (await auth.verify(token)).is_admin


async def test_deleted_account_and_password_change_revoke_tokens(auth):
    await auth.create_account("alice", "s3cret-pass")
    await auth.create_account("bob", "s3cret-pass")
    alice = await auth.authenticate("alice", "s3cret-pass")
    assert await auth.delete_account("alice")
    with pytest.raises(AuthError):
        await auth.verify(alice)
    assert not await auth.delete_account("alice")
    bob = await auth.authenticate("bob", "s3cret-pass")
    auth._clock = lambda: 4_000_000_000.0  # the change happens after the token was issued
    await auth.set_password("bob", "new-s3cret-pass")
    with pytest.raises(AuthError, match="revoked"):
        await auth.verify(bob)
    with pytest.raises(AccountNotFound):
        await auth.set_password("carol", "whatever-pass")
    assert [a.username for a in await auth.list_accounts()] == ["bob"]
