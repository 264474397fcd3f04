"""The few calls the handoff service makes to Rasa's HTTP API.

Rasa runs with ``rasa run --enable-api --auth-token T``. CSR messages are
appended to the conversation's tracker as ``bot`` events carrying
``metadata.agent``, so the tracker stays the complete transcript; a release
appends ``resume`` (ConversationResumed) and triggers an intent so the bot
greets the customer back. Every failure becomes :class:`UpstreamError`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List, Optional
from urllib.parse import quote

import aiohttp

from handoff.core.errors import UpstreamError


class RasaClient:
    """A small aiohttp client for one Rasa server.

    Args:
        base_url: e.g. ``http://127.0.0.1:5005``.
        token: Rasa's ``--auth-token`` (sent as ``?token=``).
        timeout_seconds: Total timeout of one call.
    """

    def __init__(self, base_url: str, token: str = "", timeout_seconds: float = 10.0):
        """Create the client; the HTTP session opens on first use."""
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: Optional[aiohttp.ClientSession] = None

    async def close(self) -> None:
        """Close the HTTP session (safe to call twice)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def add_agent_message(
        self,
        conv_id: str,
        text: str,
        agent: str,
        buttons: Optional[List[Dict[str, str]]] = None,
        timestamp: Optional[float] = None,
    ) -> None:
        """Record a CSR message in the tracker as a bot utterance marked with the agent.

        No side effects are executed: the handoff service delivers the message
        itself, through the outbox.
        """
        event: Dict[str, Any] = {
            "event": "bot",
            "text": text,
            "metadata": {"agent": agent},
            "timestamp": timestamp or time.time(),
        }
        if buttons:
            event["data"] = {"buttons": buttons}
        await self._post(f"/conversations/{quote(conv_id, safe='')}/tracker/events", [event])

    async def resume(self, conv_id: str) -> None:
        """Append ConversationResumed: the bot predicts again."""
        await self._post(
            f"/conversations/{quote(conv_id, safe='')}/tracker/events",
            [{"event": "resume", "timestamp": time.time()}],
        )

    async def execute_action(
        self, conv_id: str, action: str, output_channel: str = "latest"
    ) -> List[Dict[str, Any]]:
        """Make the bot run ``action`` now (e.g. greet the customer back after a release).

        Returns:
            The bot's messages when Rasa collected them instead of sending them
            through an output channel (e.g. for the REST channel); the caller
            delivers those. Empty when the channel delivered them itself.
        """
        path = f"/conversations/{quote(conv_id, safe='')}"
        body = await self._post(f"{path}/execute", {"name": action}, output_channel=output_channel)
        # /execute runs the action but does not go back to listening; without this
        # the next customer message would meet a dialogue state no rule knows.
        await self._post(f"{path}/tracker/events", [{"event": "action", "name": "action_listen"}])
        messages = body.get("messages") if isinstance(body, dict) else None
        return list(messages or [])

    async def _post(self, path: str, payload: Any, **params: str) -> Any:
        query = {"include_events": "NONE", **params}
        if self._token:
            query["token"] = self._token
        try:
            async with self._client().post(self._base + path, json=payload, params=query) as resp:
                if resp.status >= 400:
                    detail = (await resp.text())[:200]
                    raise UpstreamError(f"Rasa answered {resp.status} to {path}: {detail}")
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise UpstreamError(f"Rasa is unreachable at {self._base}: {exc!r}") from exc

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session


class NullRasa:
    """Stands in for :class:`RasaClient` when no Rasa URL is configured (console-only dev)."""

    async def close(self) -> None:
        """Nothing to close."""

    async def add_agent_message(
        self,
        conv_id: str,
        text: str,
        agent: str,
        buttons: Optional[List[Dict[str, str]]] = None,
        timestamp: Optional[float] = None,
    ) -> None:
        """Do nothing."""

    async def resume(self, conv_id: str) -> None:
        """Do nothing."""

    async def execute_action(
        self, conv_id: str, action: str, output_channel: str = "latest"
    ) -> List[Dict[str, Any]]:
        """Do nothing; no bot messages."""
        return []
