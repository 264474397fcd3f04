"""A customer on Rasa's REST channel, for conversations through the real stack (``stack`` in
tests/conftest.py).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Dict, List

import pytest

from bot.devtools.stack import StackSettings


class Customer:
    """One customer chatting through Rasa's REST channel."""

    def __init__(self, settings: StackSettings, sender: str):
        self.url = f"http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook"
        self.sender = sender

    def say(self, text: str) -> List[Dict]:
        body = json.dumps({"sender": self.sender, "message": text}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            return json.loads(response.read())

    def says(self, text: str) -> str:
        """The bot's reply texts joined (buttons' titles included)."""
        parts = []
        for reply in self.say(text):
            parts.append(reply.get("text") or "")
            parts += [b["title"] for b in reply.get("buttons") or []]
        return "\n".join(parts)


@pytest.fixture
def customer(stack, request):
    return Customer(stack, sender=f"it-{request.node.name}"[:60])
