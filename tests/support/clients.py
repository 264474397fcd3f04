"""Small HTTP clients for the tests against the running stack: a customer on the widget or on
Rasa's REST channel, a CSR on the console API.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from bot.devtools.stack import StackSettings


def call(
    method: str, url: str, body: Any = None, token: Optional[str] = None, timeout: float = 60
) -> Tuple[int, Any]:
    """One JSON request; returns (status, decoded body) for success and error statuses alike."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


class WidgetCustomer:
    """A customer in the website widget (Rasa's widget channel)."""

    def __init__(self, rasa_url: str, page_url: str = "https://shop.example/help"):
        self.base = f"{rasa_url}/webhooks/widget"
        status, session = call(
            "POST", f"{self.base}/session", {"page_url": page_url, "locale": "en-US"}
        )
        assert status == 200, session
        self.conversation_id: str = session["conversation_id"]
        self.token: str = session["token"]
        self.last_id: Optional[str] = None

    def say(self, text: str) -> List[Dict[str, Any]]:
        status, body = call("POST", f"{self.base}/messages", {"text": text}, self.token)
        assert status in (200, 202), body  # 202: a CSR has the conversation, the bot stays quiet
        messages = body["messages"]
        if messages:
            self.last_id = messages[-1]["id"]
        return messages

    def says(self, text: str) -> str:
        return "\n".join(m.get("text") or "" for m in self.say(text))

    def messages_after(self, after: Optional[str]) -> List[Dict[str, Any]]:
        url = f"{self.base}/messages" + (f"?after={after}" if after else "")
        status, body = call("GET", url, token=self.token)
        assert status == 200, body
        return body["messages"]


def widget_messages(rasa_url: str, token: str, after: Optional[str] = None) -> List[Dict[str, Any]]:
    """Every outbox entry of the widget conversation ``token`` is for (after ``after``)."""
    messages: List[Dict[str, Any]] = []
    while True:
        url = f"{rasa_url}/webhooks/widget/messages" + (f"?after={after}" if after else "")
        status, body = call("GET", url, token=token)
        assert status == 200, body
        messages += body["messages"]
        if not body.get("more") or not body["messages"]:
            return messages
        after = body["messages"][-1]["id"]


class Customer:
    """One customer chatting through Rasa's REST channel."""

    def __init__(self, settings: "StackSettings", sender: str):
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


class Csr:
    """A CSR using the handoff service's REST API."""

    def __init__(self, handoff_url: str, username: str, password: str):
        self.base = f"{handoff_url}/api"
        status, body = call(
            "POST", f"{self.base}/login", {"username": username, "password": password}
        )
        assert status == 200, body
        self.token: str = body["token"]

    def get(self, path: str) -> Tuple[int, Any]:
        return call("GET", f"{self.base}{path}", token=self.token)

    def post(self, path: str, body: Any = None) -> Tuple[int, Any]:
        return call("POST", f"{self.base}{path}", body if body is not None else {}, self.token)

    def queue(self) -> List[Dict[str, Any]]:
        status, body = self.get("/queue")
        assert status == 200, body
        return body["conversations"]

    def close_waiting(self, resolution: str = "test_cleanup") -> None:
        """Close every conversation waiting in the queue (as an admin): leftovers of earlier
        tests that share the stack, so a test meets a short queue as a CSR would."""
        for conv in self.queue():
            close = f"/conversations/{conv['id']}/close"
            status, body = self.post(close, {"resolution": resolution})
            assert status in (200, 409), body  # 409: it left the queue meanwhile
