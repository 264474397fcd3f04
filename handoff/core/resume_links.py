"""Signed links in customers' emails that reopen their conversation in the widget.

A resume link is the page embedding the widget (``email.resume_page_url``) with a
token in the URL fragment: ``https://shop.example/help#resume=<token>``. A fragment
never leaves the browser, so the token reaches no server's access log, no proxy and
no ``Referer``; the widget reads it, trades it for a customer token
(``POST /webhooks/widget/session`` with ``{"resume": token}``) and removes it from
the address bar.

The token is an HS256 JWT signed with the handoff secret, like the widget's customer
tokens (:mod:`handoff.core.customer_tokens`) and the CSR tokens (:mod:`handoff.core.auth`),
but with an audience of its own, ``resume``: it cannot pass for either of them, and
neither of them can pass for it. It names the conversation (``sub``) and, when the
mail answered a ticket, the ticket (``tkt``).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

import jwt

from handoff.core import keys
from handoff.core.customer_tokens import decode_claims
from handoff.core.errors import AuthError

AUDIENCE = "resume"
ALGORITHM = "HS256"
FRAGMENT = "resume"


class ResumeLinkError(AuthError):
    """The resume token is missing, malformed, tampered with, expired or no resume token."""

    code = "invalid_resume_link"


class ResumeLinkExpired(ResumeLinkError):
    """The resume link was valid once, but its lifetime is over."""

    code = "resume_link_expired"


class ResumeLinks:
    """Make and check resume links.

    Args:
        secret: The HS256 key (the handoff secret).
        page_url: The page embedding the widget that the links open.
        ttl_seconds: How long a link works.
        clock: Returns the current epoch time when issuing (tests pass a fake one);
            expiry is checked against the real time.
    """

    def __init__(
        self,
        secret: str,
        *,
        page_url: str,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ):
        """Create a maker/checker over one secret and one page."""
        if not isinstance(secret, str) or not secret:
            raise ValueError("a non-empty secret is required")
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be a positive integer")
        parts = urlsplit(page_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"page_url must be an http(s) URL, not {page_url!r}")
        self._secret = secret
        self._page = urlunsplit(parts._replace(fragment=""))
        self._ttl = ttl_seconds
        self._clock = clock

    @property
    def ttl_seconds(self) -> int:
        """How long a link works (mails say so)."""
        return self._ttl

    def token(self, conversation_id: str, ticket_id: Optional[str] = None) -> str:
        """The signed token of a link to ``conversation_id`` (and ``ticket_id``).

        Raises:
            ValueError: an id is not usable as a conversation or ticket id.
        """
        if not keys.check_id(conversation_id):
            raise ValueError(f"not a conversation id: {conversation_id!r}")
        if ticket_id is not None and not keys.check_id(ticket_id):
            raise ValueError(f"not a ticket id: {ticket_id!r}")
        now = int(self._clock())
        claims = {"sub": conversation_id, "aud": AUDIENCE, "iat": now, "exp": now + self._ttl}
        if ticket_id is not None:
            claims["tkt"] = ticket_id
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def url(self, conversation_id: str, ticket_id: Optional[str] = None) -> str:
        """The link to put in a mail: the page with ``#resume=<token>``.

        Raises:
            ValueError: an id is not usable as a conversation or ticket id.
        """
        return f"{self._page}#{FRAGMENT}={self.token(conversation_id, ticket_id)}"

    def verify(self, token: Any) -> Tuple[str, Optional[str]]:
        """The conversation (and ticket, or None) a resume token opens.

        Raises:
            ResumeLinkExpired: the link is older than its lifetime (``resume_link_expired``).
            ResumeLinkError: missing, malformed, tampered with, signed with another key,
                or a token of another kind (``invalid_resume_link``).
        """
        if not isinstance(token, str) or not token:
            raise ResumeLinkError("missing resume token: open the link from the email again")
        try:
            claims = decode_claims(token, self._secret, AUDIENCE)
        except jwt.ExpiredSignatureError as exc:
            raise ResumeLinkExpired(
                "this link has expired; write to us in the chat or reply to the email"
            ) from exc
        except (jwt.InvalidAudienceError, jwt.MissingRequiredClaimError) as exc:
            raise ResumeLinkError(f"not a resume link: {exc}") from exc
        except jwt.InvalidSignatureError as exc:
            raise ResumeLinkError(
                "resume link signature is invalid (tampered or wrong key)"
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise ResumeLinkError(f"invalid resume link: {exc}") from exc
        conversation_id, ticket_id = claims["sub"], claims.get("tkt")
        if not keys.check_id(conversation_id):
            raise ResumeLinkError("resume link names no valid conversation")
        if ticket_id is not None and not keys.check_id(ticket_id):
            raise ResumeLinkError("resume link names no valid ticket")
        return conversation_id, ticket_id
