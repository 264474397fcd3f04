"""Fixtures of the security tests: fresh accounts and their tokens on the running stack
(``stack`` in tests/conftest.py: real Redis, Rasa with the widget channel, action server,
handoff service)."""

from __future__ import annotations

import pytest

from tests.support.security import create_account, login


@pytest.fixture
def csr(stack):
    """A fresh CSR account of its own (tests log it out and change its password)."""
    return create_account(stack, "csr")


@pytest.fixture
def csr_token(stack, csr):
    return login(stack.handoff_url, csr)


@pytest.fixture
def admin_token(stack):
    return login(stack.handoff_url, create_account(stack, "admin"))
