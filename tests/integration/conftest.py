"""A customer on Rasa's REST channel, for conversations through the real stack (``stack`` in
tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support.clients import Customer


@pytest.fixture
def customer(stack, request):
    return Customer(stack, sender=f"it-{request.node.name}"[:60])
