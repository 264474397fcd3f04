"""Domain errors of the handoff service.

The domain raises these; only the HTTP edge (``handoff.service.routes``) decides which
status code each becomes, so the store and the state machine stay free of HTTP.
"""

from __future__ import annotations


class HandoffError(Exception):
    """Base of every error the handoff domain raises on purpose.

    Attributes:
        code: A stable, machine-readable name for the error (used in API responses).
    """

    code = "handoff_error"

    def __init__(self, message: str):
        """Create the error.

        Args:
            message: A sentence a CSR or a developer can act on.
        """
        super().__init__(message)
        self.message = message


class InvalidInput(HandoffError):
    """A caller passed a value the domain cannot accept."""

    code = "invalid_input"


class ConversationNotFound(HandoffError):
    """No handoff record exists for the conversation id."""

    code = "conversation_not_found"

    def __init__(self, conv_id: str):
        """Create the error for one conversation id."""
        super().__init__(f"no handoff conversation {conv_id!r}")
        self.conv_id = conv_id


class InvalidTransition(HandoffError):
    """The lifecycle does not allow this event in the conversation's current state."""

    code = "invalid_transition"


class ClaimConflict(InvalidTransition):
    """Someone else claimed the conversation first."""

    code = "claim_conflict"


class NotAssignee(HandoffError):
    """The CSR acts on a conversation that is assigned to somebody else."""

    code = "not_assignee"


class Busy(HandoffError):
    """A record kept changing under us; the caller may retry."""

    code = "busy"


class AuthError(HandoffError):
    """Missing, wrong, expired or tampered credentials."""

    code = "unauthorized"


class Forbidden(HandoffError):
    """The caller is known but their role does not allow the operation."""

    code = "forbidden"


class AccountExists(HandoffError):
    """An account with this username already exists."""

    code = "account_exists"


class AccountNotFound(HandoffError):
    """No account has this username."""

    code = "account_not_found"


class TooManyAttempts(HandoffError):
    """Too many failed logins for one username; wait before trying again."""

    code = "too_many_attempts"


class UpstreamError(HandoffError):
    """Rasa (or another service we depend on) failed or could not be reached."""

    code = "upstream_error"


class ConfigError(HandoffError):
    """The configuration is invalid or unsafe for the chosen environment."""

    code = "config_error"
