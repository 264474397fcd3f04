"""What a CSR does to a conversation, end to end: store, customer outbox and Rasa tracker.

Order matters for retries. Where Rasa must learn about a change, the change is
first checked against the current record, then sent to Rasa, and only then
written: if Rasa is down the CSR gets a 502 and nothing happened, so retrying
cannot send the customer a message twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional, Protocol

from handoff.core import lifecycle, process_metrics
from handoff.core.auth import Auth, Identity
from handoff.core.conversation import Conversation
from handoff.core.errors import InvalidInput, InvalidTransition, NotAssignee, UpstreamError
from handoff.core.followup import Followups
from handoff.core.lifecycle import Event, State
from handoff.core.outbox import Outbox
from handoff.core.store import RESOLUTION_CHARS, HandoffStore
from handoff.core.text_rules import check_text

logger = logging.getLogger(__name__)

CSAT_TEXT = "How would you rate the help you got today? (1 = poor, 5 = excellent)"


class RasaPort(Protocol):
    """What the service needs from Rasa (``RasaClient`` or ``NullRasa``)."""

    async def add_agent_message(
        self,
        conv_id: str,
        text: str,
        agent: str,
        buttons: Optional[List[Dict[str, str]]] = None,
        timestamp: Optional[float] = None,
    ) -> None:
        """Record a CSR message in the tracker."""

    async def resume(self, conv_id: str) -> None:
        """Let the bot predict again."""

    async def execute_action(
        self, conv_id: str, action: str, output_channel: str = "latest"
    ) -> List[Dict[str, Any]]:
        """Make the bot respond to an intent."""


class HandoffService:
    """CSR operations over the store, the outbox and Rasa.

    Args:
        store: Conversation records and queue.
        outbox: Messages to customers.
        rasa: The Rasa API (or its null twin).
        auth: Accounts (to check transfer targets).
        resume_action: Run after a release so the bot greets back; empty to skip.
        max_message_chars: Longest CSR message or note.
        followups: Asks "did that solve it?" after a close (CSAT follows the answer);
            without it a close asks for the rating straight away.
    """

    def __init__(
        self,
        store: HandoffStore,
        outbox: Outbox,
        rasa: RasaPort,
        auth: Auth,
        *,
        resume_action: str = "action_handback",
        max_message_chars: int = 2000,
        followups: Optional[Followups] = None,
    ):
        """Wire the collaborators."""
        self.store = store
        self.outbox = outbox
        self.rasa = rasa
        self.auth = auth
        self.followups = followups
        self._resume_action = resume_action
        self._max_chars = max_message_chars

    async def details(self, conv_id: str) -> Dict[str, Any]:
        """The record with its transcript and notes."""
        conv = await self.store.get(conv_id)
        return {
            **conv.to_dict(),
            "transcript": await self.store.transcript(conv_id),
            "notes": await self.store.notes(conv_id),
        }

    async def claim(self, conv_id: str, who: Identity) -> Conversation:
        """Claim a queued conversation and tell the customer who joined."""
        conv = await self.store.claim(conv_id, who.username)
        await self._notify(
            conv_id, f"{who.display_name} from our support team has joined the chat."
        )
        return conv

    async def send_message(
        self, conv_id: str, who: Identity, text: Any, buttons: Any = None
    ) -> Dict[str, Any]:
        """Deliver a CSR message to the customer and record it in transcript and tracker.

        Returns:
            ``{"id": outbox id, "message": the message}``.
        """
        text = self._check_text(text, "text")
        buttons = _check_buttons(buttons)
        _ensure_can_message(await self.store.get(conv_id), who.username)
        await self.rasa.add_agent_message(conv_id, text, who.display_name, buttons)
        await self.store.record_csr_message(conv_id, who.username, text, agent=who.display_name)
        message = {
            "sender": "csr",
            "text": text,
            "agent": who.display_name,
            "timestamp": time.time(),
        }
        if buttons:
            message["buttons"] = buttons
        entry_id = await self.outbox.append(conv_id, message)
        process_metrics.count_message("out", "csr")
        return {"id": entry_id, "message": message}

    async def typing(self, conv_id: str, who: Identity) -> None:
        """Show the customer that the CSR is typing (ephemeral)."""
        _ensure_can_message(await self.store.get(conv_id), who.username)
        await self.outbox.signal(
            conv_id, {"type": "typing", "sender": "csr", "agent": who.display_name}
        )

    async def add_note(self, conv_id: str, who: Identity, text: Any) -> Dict[str, Any]:
        """Attach an internal note."""
        return await self.store.add_note(conv_id, who.username, self._check_text(text, "text"))

    async def transfer(self, conv_id: str, who: Identity, to_username: Any) -> Conversation:
        """Hand the conversation to another CSR and tell the customer.

        Raises:
            InvalidInput: no account named ``to_username``.
        """
        target = await self.auth.get_account(to_username) if isinstance(to_username, str) else None
        if target is None:
            raise InvalidInput("`to` must name an existing CSR account")
        conv = await self.store.transfer(
            conv_id, target.username, by=who.username, admin=who.is_admin
        )
        await self._notify(conv_id, f"You're now chatting with {target.display_name}.")
        return conv

    async def release(self, conv_id: str, who: Identity) -> Dict[str, Any]:
        """Hand the conversation back to the bot, which greets the customer again.

        Returns:
            ``{"conversation": …, "bot_greeted": bool}``; the greeting is best effort.
        """
        await self._precheck(conv_id, who, Event.RELEASE)
        await self.rasa.resume(conv_id)
        conv = await self.store.release(conv_id, by=who.username, admin=who.is_admin)
        # Neutral wording: an admin may release a conversation someone else had.
        await self._notify(
            conv_id,
            "Our support team has handed you back to the assistant, which is here to help again.",
        )
        return {"conversation": conv, "bot_greeted": await self._greet(conv_id)}

    async def close(self, conv_id: str, who: Identity, resolution: Any) -> Conversation:
        """Close the conversation, let the bot answer later messages, and ask how it went.

        With follow-ups the customer is asked "did that solve it?" first; the rating comes
        after the answer (:mod:`handoff.core.followup`). Without, the rating comes now.
        """
        if not isinstance(resolution, str) or not resolution.strip():
            raise InvalidInput("`resolution` is required (e.g. solved, refund_issued, spam)")
        resolution = check_text(resolution, "resolution", max_chars=RESOLUTION_CHARS).strip()
        await self._precheck(conv_id, who, Event.CLOSE)
        # The bot paused the conversation when it escalated; unpause it so a
        # returning customer is answered (and can be escalated again).
        await self.rasa.resume(conv_id)
        conv = await self.store.close(conv_id, resolution, by=who.username, admin=who.is_admin)
        await self._notify(conv_id, "This chat has been closed. Thanks for contacting us!")
        if self.followups is None:
            await self.outbox.append(conv_id, csat_request())
            return conv
        question = await self.followups.ask(
            conv_id, resolver="csr", csr=conv.assigned_to or who.username, reason=conv.reason or "-"
        )
        await self.outbox.append(conv_id, question)
        return conv

    async def _precheck(self, conv_id: str, who: Identity, event: Event) -> None:
        # A read-only look before calling Rasa; the store re-checks atomically.
        conv = await self.store.get(conv_id)
        lifecycle.next_state(conv.state, event)
        if conv.state is State.ASSIGNED and conv.assigned_to != who.username and not who.is_admin:
            raise NotAssignee(f"conversation is assigned to {conv.assigned_to}")

    async def _greet(self, conv_id: str) -> bool:
        if not self._resume_action:
            return False
        try:
            messages = await self.rasa.execute_action(conv_id, self._resume_action)
        except UpstreamError as exc:
            logger.warning("bot could not greet %s back after release: %s", conv_id, exc)
            return False
        # Rasa returns the messages only when no output channel delivered them.
        for message in messages:
            await self.outbox.append(conv_id, _bot_message(message))
        return True

    async def _notify(self, conv_id: str, text: str) -> None:
        await self.outbox.append(conv_id, {"sender": "system", "text": text})

    def _check_text(self, text: Any, name: str) -> str:
        return check_text(text, name, max_chars=self._max_chars)


def csat_request() -> Dict[str, Any]:
    """The outbox message asking the customer for a 1–5 rating.

    The widget may render the buttons itself (``kind`` tells it what this is) or
    send the payload to Rasa as an intent with the ``csat_score`` entity.
    """
    return {
        "sender": "system",
        "kind": "csat_request",
        "text": CSAT_TEXT,
        "buttons": [
            {"title": str(n), "payload": f'/csat_rating{{"csat_score": {n}}}'} for n in range(1, 6)
        ],
    }


def _ensure_can_message(conv: Conversation, username: str) -> None:
    if conv.state is not State.ASSIGNED:
        raise InvalidTransition(f"cannot message a conversation that is {conv.state.value}")
    if conv.assigned_to != username:
        raise NotAssignee(f"conversation is assigned to {conv.assigned_to}")


def _check_buttons(buttons: Any) -> Optional[List[Dict[str, str]]]:
    if buttons in (None, []):
        return None
    if (
        not isinstance(buttons, list)
        or len(buttons) > 10
        or not all(
            isinstance(b, dict)
            and isinstance(b.get("title"), str)
            and isinstance(b.get("payload"), str)
            for b in buttons
        )
    ):
        raise InvalidInput("`buttons` must be a list of at most 10 {title, payload} strings")
    return [{"title": b["title"], "payload": b["payload"]} for b in buttons]


def _bot_message(rasa_message: Dict[str, Any]) -> Dict[str, Any]:
    message: Dict[str, Any] = {"sender": "bot", "text": rasa_message.get("text") or ""}
    if rasa_message.get("buttons"):
        message["buttons"] = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in rasa_message["buttons"]
        ]
    if rasa_message.get("image"):
        message["image"] = rasa_message["image"]
    return message
