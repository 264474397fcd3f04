"""Credentials the tests sign and log in with."""

from __future__ import annotations

# The handoff service's signing secret in tests (long enough for HS256).
SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
# Real scrypt, cheaper cost: logins are most of the API tests' time otherwise.
# tests/handoff/core/test_auth.py checks the production parameters separately.
FAST_SCRYPT_N = 2**10
# Every account the API tests create has this password.
PASSWORD = "s3cret-pass"
