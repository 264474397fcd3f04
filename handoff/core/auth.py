"""CSR and admin accounts, password hashing and signed tokens.

Passwords are hashed with scrypt (random 16-byte salt, parameters stored with
the hash so they can be raised later) and compared in constant time. Tokens are
HS256 JWTs with ``sub``, ``role``, ``iat``, ``exp``, ``iss``, a random ``jti`` and the
account's token generation ``gen``. :meth:`Auth.verify` also reads the account, so
deleting an account or changing its role takes effect immediately rather than when old
tokens expire. A token ends in one of three ways: it expires (``token_ttl_seconds``), it
is logged out (:meth:`Auth.revoke` marks its ``jti`` in Redis until it would have
expired), or its account's password changes (:meth:`Auth.set_password` bumps the
generation, so every token issued before, in the same second too, stops working).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import jwt
from redis.asyncio import Redis
from redis.exceptions import WatchError

from handoff.core import keys
from handoff.core.errors import (
    AccountExists,
    AccountNotFound,
    AuthError,
    Forbidden,
    InvalidInput,
    TooManyAttempts,
)
from handoff.core.text_rules import check_text

ROLES = ("csr", "admin")
ISSUER = "handoff"
ALGORITHM = "HS256"
# n=2**14, r=8 needs 16 MiB and ~50 ms: slow for guessing, fine for a login.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
MIN_PASSWORD, MAX_PASSWORD = 8, 1024

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{1,63}$")
_dummy_hashes: Dict[int, str] = {}


@dataclass(frozen=True)
class Identity:
    """Who is calling.

    Attributes:
        username: Login name (lower case).
        role: ``csr`` or ``admin``.
        display_name: Name the customer sees next to the CSR's messages.
    """

    username: str
    role: str
    display_name: str

    @property
    def is_admin(self) -> bool:
        """Whether the caller may use admin-only operations."""
        return self.role == "admin"

    def to_dict(self) -> dict:
        """JSON-friendly view."""
        return {"username": self.username, "role": self.role, "display_name": self.display_name}


def hash_password(password: str, n: int = SCRYPT_N) -> str:
    """Hash a password as ``scrypt$n$r$p$salt$digest`` (base64 parts).

    Args:
        password: The plain password.
        n: scrypt CPU/memory cost (a power of two); lower only in tests.
    """
    salt = os.urandom(16)
    digest = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return "$".join(["scrypt", str(n), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)])


def check_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        candidate = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, expected)


class Auth:
    """Accounts in Redis and the tokens proving who a caller is.

    Args:
        redis: An asyncio Redis client.
        secret: HS256 signing key.
        token_ttl_seconds: Lifetime of issued tokens.
        max_failures: Failed logins of one username from one address before each further
            attempt from there must wait: 2 s, then 4, 8... up to ``lockout_seconds``.
        lockout_seconds: Window in which failures are counted, and the longest wait.
        max_address_failures: Failed logins from one address, whatever the username,
            before that address is refused until its failures age out of the window.
        clock: Returns the current epoch time.
        scrypt_n: scrypt cost for new hashes (existing hashes keep their own).
    """

    def __init__(
        self,
        redis: Redis,
        secret: str,
        *,
        token_ttl_seconds: int = 8 * 3600,
        max_failures: int = 5,
        lockout_seconds: int = 900,
        max_address_failures: int = 50,
        clock: Callable[[], float] = time.time,
        scrypt_n: int = SCRYPT_N,
    ):
        """Create the service over one Redis client."""
        self._redis = redis
        self._secret = secret
        self._ttl = token_ttl_seconds
        self._max_failures = max_failures
        self._lockout = lockout_seconds
        self._max_address_failures = max_address_failures
        self._clock = clock
        self._scrypt_n = scrypt_n

    async def create_account(
        self, username: str, password: str, role: str = "csr", display_name: Optional[str] = None
    ) -> Identity:
        """Create an account.

        Raises:
            InvalidInput: bad username, role or password.
            AccountExists: the username is taken.
        """
        username = _check_username(username)
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        _check_password(password)
        name = _check_display_name(display_name) or username
        encoded = await asyncio.to_thread(hash_password, password, self._scrypt_n)
        key = keys.account(username)
        async with self._redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                if await pipe.exists(key):
                    raise AccountExists(f"account {username!r} already exists")
                pipe.multi()
                pipe.hset(
                    key,
                    mapping={
                        "username": username,
                        "role": role,
                        "display_name": name,
                        "password": encoded,
                        "tokens_after": "0",
                        "created_at": str(self._clock()),
                    },
                )
                pipe.sadd(keys.ACCOUNTS, username)
                await pipe.execute()
            except WatchError as exc:
                raise AccountExists(f"account {username!r} already exists") from exc
        return Identity(username, role, name)

    async def get_account(self, username: str) -> Optional[Identity]:
        """The account, or None."""
        if not isinstance(username, str) or not _USERNAME.match(username.strip().lower()):
            return None
        raw = await self._raw(username.strip().lower())
        return _identity(raw) if raw else None

    async def list_accounts(self) -> List[Identity]:
        """Every account, by username."""
        names = sorted(await self._redis.smembers(keys.ACCOUNTS))
        found = [await self.get_account(n) for n in names]
        return [a for a in found if a is not None]

    async def delete_account(self, username: str) -> bool:
        """Remove an account; its tokens stop working at once.

        Returns:
            Whether it existed.
        """
        username = _check_username(username)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.account(username))
            pipe.srem(keys.ACCOUNTS, username)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def set_password(self, username: str, password: str) -> None:
        """Change a password and revoke every token of the account issued before.

        Raises:
            AccountNotFound: no such account.
        """
        username = _check_username(username)
        _check_password(password)
        if not await self._raw(username):
            raise AccountNotFound(f"no account {username!r}")
        encoded = await asyncio.to_thread(hash_password, password, self._scrypt_n)
        key = keys.account(username)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"password": encoded, "tokens_after": str(int(self._clock()))})
            # Exact, unlike the one-second `tokens_after`: a token carries the generation
            # it was issued in, and only the current one is accepted.
            pipe.hincrby(key, "token_generation", 1)
            await pipe.execute()

    async def change_password(
        self, username: str, current_password: str, new_password: str, address: str = "unknown"
    ) -> str:
        """The logged-in user changes their own password; returns a fresh token.

        The current password is checked like a login (failures count towards the same
        throttle), so a stolen token alone cannot take the account over. Every token
        issued before, the caller's included, stops working.

        Raises:
            InvalidInput: the new password is too short or too long.
            Forbidden: the current password is wrong (``wrong_password``).
            TooManyAttempts: too many wrong passwords from this address.
        """
        _check_password(new_password)
        try:
            await self.authenticate(username, current_password, address)
        except TooManyAttempts:
            raise
        except AuthError as exc:
            raise Forbidden("the current password is wrong", code="wrong_password") from exc
        await self.set_password(username, new_password)
        raw = await self._raw(_check_username(username))
        if not raw:
            raise AuthError("account no longer exists")
        return self.issue_token(_identity(raw), _generation(raw))

    async def revoke(self, token: str) -> None:
        """Log one token out: it fails :meth:`verify` from now until it would have expired.

        Raises:
            AuthError: the token is invalid or already expired.
        """
        claims = self._decode(token)
        ttl = max(1, int(claims["exp"]) - int(self._clock()) + 1)
        await self._redis.set(keys.revoked_token(str(claims["jti"])), "1", ex=ttl)

    async def authenticate(self, username: str, password: str, address: str = "unknown") -> str:
        """Check a username and password and return a signed token.

        Failures slow down only whoever makes them: they are counted per (username, client
        address) and per address, never per account, so a stranger guessing passwords cannot
        lock a CSR out of the console.

        Args:
            username: The account's name.
            password: Its password.
            address: The client's address, as the HTTP edge sees it.

        Raises:
            TooManyAttempts: too many recent failures for this username from this address,
                or from this address at all (``retry_after`` says when to come back).
            AuthError: wrong username or password (deliberately not saying which).
        """
        username = username.strip().lower() if isinstance(username, str) else ""
        well_formed = _USERNAME.match(username) and isinstance(password, str)
        if not well_formed or len(password) > MAX_PASSWORD:
            await asyncio.to_thread(_waste_a_hash, self._scrypt_n)
            raise AuthError("invalid username or password")
        await self._check_throttle(username, address)
        raw = await self._raw(username)
        # Hash even for unknown users so response time does not reveal which names exist.
        if raw:
            encoded = raw.get("password", "")
            valid = await asyncio.to_thread(check_password, password, encoded)
        else:
            valid = await asyncio.to_thread(_waste_a_hash, self._scrypt_n)
        if not valid:
            await self._count_failure(username, address)
            raise AuthError("invalid username or password")
        await self._redis.delete(keys.login_failures(username, address))
        return self.issue_token(_identity(raw), _generation(raw))

    def issue_token(self, identity: Identity, generation: int = 0) -> str:
        """A signed token for ``identity`` valid for the configured lifetime.

        Args:
            identity: Who the token is for.
            generation: The account's current token generation (bumped by a password change).
        """
        now = int(self._clock())
        claims = {
            "sub": identity.username,
            "role": identity.role,
            "name": identity.display_name,
            "iat": now,
            "exp": now + self._ttl,
            "iss": ISSUER,
            "jti": uuid.uuid4().hex,
            "gen": generation,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    async def verify(self, token: str) -> Identity:
        """The identity a token proves, with the account's current role.

        Raises:
            AuthError: missing, malformed, tampered or expired token, a token that was
                logged out, or the account is gone or its password changed since the
                token was issued.
        """
        claims = self._decode(token)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.account(str(claims["sub"])))
            pipe.exists(keys.revoked_token(str(claims["jti"])))
            raw, logged_out = await pipe.execute()
        if not raw:
            raise AuthError("account no longer exists")
        if (
            logged_out
            or int(claims["iat"]) < int(raw.get("tokens_after", "0") or 0)
            or _claimed_generation(claims) != _generation(raw)
        ):
            raise AuthError("token was revoked; log in again")
        return _identity(raw)

    def _decode(self, token: str) -> dict:
        if not isinstance(token, str) or not token:
            raise AuthError("missing token")
        try:
            return jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "role", "iss", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired; log in again") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError("invalid token") from exc

    async def _check_throttle(self, username: str, address: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.login_failures(username, address))
            pipe.get(keys.address_failures(address))
            pipe.ttl(keys.address_failures(address))
            pair, from_address, address_ttl = await pipe.execute()
        if from_address is not None and int(from_address) >= self._max_address_failures:
            wait = max(1, int(address_ttl))
            raise TooManyAttempts(
                f"too many failed logins from your address; try again in {wait} s",
                retry_after=wait,
            )
        wait = self._delay(int(pair.get("count", 0))) if pair else 0
        remaining = math.ceil(float(pair.get("last", 0)) + wait - self._clock()) if wait else 0
        if remaining > 0:
            raise TooManyAttempts(
                f"too many failed logins; try again in {remaining} s", retry_after=remaining
            )

    def _delay(self, failures: int) -> int:
        """Seconds to wait after ``failures`` failures: none at first, then doubling."""
        if failures < self._max_failures:
            return 0
        return min(self._lockout, 2 ** (failures - self._max_failures + 1))

    async def _count_failure(self, username: str, address: str) -> None:
        pair, per_address = keys.login_failures(username, address), keys.address_failures(address)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(pair, "count", 1)
            pipe.hset(pair, "last", repr(self._clock()))
            # Sliding windows: failures are forgotten `lockout_seconds` after the last one.
            pipe.expire(pair, self._lockout)
            pipe.incr(per_address)
            pipe.expire(per_address, self._lockout)
            await pipe.execute()

    async def _raw(self, username: str) -> dict:
        return await self._redis.hgetall(keys.account(username))


def _identity(raw: dict) -> Identity:
    username = raw["username"]
    return Identity(username, raw["role"], raw.get("display_name", username))


def _generation(raw: dict) -> int:
    """The account's token generation (0 until its password is first changed)."""
    try:
        return int(raw.get("token_generation") or 0)
    except ValueError:
        return -1  # a corrupt field matches no token


def _claimed_generation(claims: dict) -> int:
    value = claims.get("gen", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else -2


def _check_username(username: Any) -> str:
    name = username.strip().lower() if isinstance(username, str) else ""
    if not _USERNAME.match(name):
        raise InvalidInput(
            "username must be 2-64 characters of a-z, 0-9, _ . - (starting with a letter or digit)"
        )
    return name


def _check_display_name(display_name: Any) -> str:
    # Customers see it in the widget ("You're now chatting with ..."): same rule as any text.
    return check_text(display_name, "display_name", max_chars=64, required=False).strip()


def _check_password(password: Any) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    try:
        password.encode("utf-8")  # scrypt hashes UTF-8: a lone surrogate was a 500
    except UnicodeEncodeError as exc:
        raise InvalidInput("password must be text (it holds an unpaired surrogate)") from exc


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int = SCRYPT_LEN) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * 1024 * 1024
    )


def _waste_a_hash(n: int) -> bool:
    """Spend the time of one password check, always failing."""
    # The dummy hash is made on first use, not at import (imports stay cheap).
    if n not in _dummy_hashes:
        _dummy_hashes[n] = hash_password(os.urandom(16).hex(), n)
    check_password("not the password", _dummy_hashes[n])
    return False


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
