"""The product's one error hierarchy.

The domain (queue, lifecycle, accounts, tokens, outbox, retraining) raises these; each
carries a stable ``code`` that API clients read. The classes are grouped by what the
caller can do about them (fix the input, log in, wait, retry...), and only
:mod:`handoff.core.http_errors` turns a group into an HTTP status, for both Sanic apps
(the handoff service and the widget channel). So the store and the state machine stay
free of HTTP, and a new error only needs the right parent to get the right status.
"""

from __future__ import annotations

from typing import Optional


class DomainError(Exception):
    """Base of every error the product raises on purpose.

    Attributes:
        code: A stable, machine-readable name for the error (``error.code`` in API
            responses); a class default that one raise may refine.
        message: A sentence a customer, CSR or developer can act on.
        retry_after: Seconds after which trying again may succeed, when known.
    """

    code = "domain_error"

    def __init__(
        self, message: str, *, code: Optional[str] = None, retry_after: Optional[int] = None
    ):
        """Create the error.

        Args:
            message: A sentence a CSR or a developer can act on.
            code: A more specific code than the class's (e.g. ``empty_message``).
            retry_after: Seconds until a retry may succeed.
        """
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.retry_after = retry_after


# ---- the caller must change the request -----------------------------------------------------


class InvalidInput(DomainError):
    """A caller passed a value the domain cannot accept."""

    code = "invalid_input"


class PayloadTooLarge(InvalidInput):
    """A message or body longer than the configured limit."""

    code = "payload_too_large"


class UnsupportedMediaType(InvalidInput):
    """A file whose content is none of the accepted types (whatever its name claims)."""

    code = "unsupported_media_type"


class UpgradeRequired(InvalidInput):
    """A plain HTTP request to a WebSocket route; the client must upgrade the connection."""

    code = "upgrade_required"


class AuthError(DomainError):
    """Missing, wrong, expired or tampered credentials."""

    code = "unauthorized"


class Forbidden(DomainError):
    """The caller is known but their role does not allow the operation."""

    code = "forbidden"


class NotAssignee(Forbidden):
    """The CSR acts on a conversation that is assigned to somebody else."""

    code = "not_assignee"


class NotFound(DomainError):
    """Something the caller named does not exist."""

    code = "not_found"


class ConversationNotFound(NotFound):
    """No handoff record exists for the conversation id."""

    code = "conversation_not_found"

    def __init__(self, conv_id: str):
        """Create the error for one conversation id."""
        super().__init__(f"no handoff conversation {conv_id!r}")
        self.conv_id = conv_id


class TicketNotFound(NotFound):
    """No ticket has this id (never opened, or erased)."""

    code = "ticket_not_found"

    def __init__(self, ticket_id: str):
        """Create the error for one ticket id."""
        super().__init__(f"no ticket {ticket_id!r}")
        self.ticket_id = ticket_id


class AccountNotFound(NotFound):
    """No account has this username."""

    code = "account_not_found"


# ---- the request clashes with the current state ----------------------------------------------


class Conflict(DomainError):
    """The request is valid but clashes with the current state."""

    code = "conflict"


class InvalidTransition(Conflict):
    """The lifecycle does not allow this event in the conversation's current state."""

    code = "invalid_transition"


class ClaimConflict(InvalidTransition):
    """Someone else claimed the conversation first."""

    code = "claim_conflict"


class AccountExists(Conflict):
    """An account with this username already exists."""

    code = "account_exists"


# ---- the caller should wait and try again ---------------------------------------------------


class TooManyRequests(DomainError):
    """A rate limit was hit; ``retry_after`` says when to come back."""

    code = "rate_limited"


class TooManyAttempts(TooManyRequests):
    """Too many failed logins for one username; wait before trying again."""

    code = "too_many_attempts"


class UpstreamError(DomainError):
    """Rasa (or another service we depend on) failed or could not be reached."""

    code = "upstream_error"


class Unavailable(DomainError):
    """A temporary condition on our side (storage down, contention)."""

    code = "unavailable"


class Busy(Unavailable):
    """A record kept changing under us; the caller may retry."""

    code = "busy"


# ---- the operator must fix the deployment ---------------------------------------------------


class ConfigError(DomainError):
    """The configuration is invalid or unsafe for the chosen environment."""

    code = "config_error"
