"""Who a customer is, without keeping their email address in key names.

A customer is known by a keyed hash of their email address (HMAC-SHA256 under a key
derived from the handoff secret). Redis key names, logs and exports of key names then
name no one, a leaked key list reveals no addresses, and nobody without the secret can
test whether a given address is a customer.
"""

from __future__ import annotations

import hashlib
import hmac

# Derive a key of its own from the secret, so the hash can never be confused with a
# token signature made with the same secret.
_PURPOSE = b"handoff customer identity v1"


def normalize_email(email: str) -> str:
    """The form two spellings of one address share (surrounding space, letter case)."""
    return email.strip().lower()


def customer_key(secret: str, email: str) -> str:
    """The customer id of ``email``: 64 hex digits, the same for every process with ``secret``."""
    key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, normalize_email(email).encode(), hashlib.sha256).hexdigest()
