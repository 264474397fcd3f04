"""Signed session tokens for website-widget customers.

A customer token is an HS256 JWT signed with the handoff secret. It names one
conversation (``sub``) and is meant for the widget only (``aud = "widget"``),
so it can never pass for a CSR token (those carry a role and the ``handoff``
issuer, and are rejected when they carry an audience) and a CSR token can
never pass for a customer token. Whoever holds the token may read and write
that one conversation and no other: the widget channel takes the conversation
id from the token, never from the request.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict

import jwt

from handoff.core import keys
from handoff.core.errors import AuthError

AUDIENCE = "widget"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 7 * 24 * 3600


class CustomerTokenError(AuthError):
    """The customer token is missing, malformed, tampered with, expired or not for the widget."""

    code = "unauthorized"


@dataclass(frozen=True)
class CustomerToken:
    """A freshly issued token and what it grants.

    Attributes:
        token: The compact JWT to send as ``Authorization: Bearer``.
        conversation_id: The one conversation it grants access to.
        expires_at: Expiry in epoch seconds.
    """

    token: str
    conversation_id: str
    expires_at: int

    def to_dict(self) -> Dict[str, Any]:
        """The JSON body of ``POST /webhooks/widget/session``."""
        return {
            "conversation_id": self.conversation_id,
            "token": self.token,
            "expires_at": self.expires_at,
        }


def decode_claims(token: str, secret: str, audience: str) -> Dict[str, Any]:
    """The claims of an HS256 token signed with ``secret`` for ``audience``.

    The token must name a subject, an audience and an expiry. Shared by the customer
    tokens and the resume links (:mod:`handoff.core.resume_links`); each maps the errors
    to its own.

    Raises:
        jwt.InvalidTokenError: or one of its subclasses (expired, wrong audience, missing
            claim, bad signature, malformed).
    """
    return jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        audience=audience,
        options={"require": ["sub", "aud", "exp"]},
    )


def new_conversation_id() -> str:
    """A random, unguessable conversation id (uuid4 hex: 32 lowercase hex digits)."""
    return uuid.uuid4().hex


class CustomerTokens:
    """Issue and verify customer tokens.

    Args:
        secret: The HS256 key (the handoff service's secret).
        ttl_seconds: Lifetime of a token.
        clock: Returns the current epoch time when issuing (tests pass a fake one);
            expiry is checked against the real time.
    """

    def __init__(
        self,
        secret: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        """Create an issuer/verifier over one secret."""
        if not isinstance(secret, str) or not secret:
            raise ValueError("a non-empty secret is required")
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be a positive integer")
        self._secret = secret
        self._ttl = ttl_seconds
        self._clock = clock

    def issue(self, conversation_id: str) -> CustomerToken:
        """A token for ``conversation_id`` valid for the configured lifetime.

        Raises:
            ValueError: the id is not usable as a conversation id.
        """
        if not keys.check_id(conversation_id):
            raise ValueError(f"not a conversation id: {conversation_id!r}")
        now = int(self._clock())
        expires_at = now + self._ttl
        claims = {"sub": conversation_id, "aud": AUDIENCE, "iat": now, "exp": expires_at}
        return CustomerToken(
            jwt.encode(claims, self._secret, algorithm=ALGORITHM), conversation_id, expires_at
        )

    def verify(self, token: Any) -> str:
        """The conversation id a token grants access to.

        Raises:
            CustomerTokenError: missing, malformed, tampered or expired token, or a
                token made for something other than the widget.
        """
        if not isinstance(token, str) or not token:
            raise CustomerTokenError(
                "missing token: send `Authorization: Bearer <token>` "
                "from POST /webhooks/widget/session"
            )
        try:
            claims = decode_claims(token, self._secret, AUDIENCE)
        except jwt.ExpiredSignatureError as exc:
            raise CustomerTokenError("token expired; start a new session") from exc
        except jwt.InvalidAudienceError as exc:
            raise CustomerTokenError("token is not a widget token") from exc
        except jwt.MissingRequiredClaimError as exc:
            reason = (
                "token is not a widget token"
                if exc.claim == "aud"
                else f"token lacks the {exc.claim!r} claim"
            )
            raise CustomerTokenError(reason) from exc
        except jwt.InvalidSignatureError as exc:
            raise CustomerTokenError("token signature is invalid (tampered or wrong key)") from exc
        except jwt.InvalidTokenError as exc:
            raise CustomerTokenError(f"invalid token: {exc}") from exc
        conversation_id = claims["sub"]
        if not keys.check_id(conversation_id):
            raise CustomerTokenError("token names no valid conversation")
        return conversation_id
