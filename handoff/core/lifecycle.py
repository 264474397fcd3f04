"""The conversation lifecycle: states, events and the transitions between them.

Pure Python on purpose: the store asks this module whether a change is legal
before it writes anything, so the rules live in one place and can be tested
without Redis.

::

    bot ──escalate──▶ queued ──claim──▶ assigned ──release──▶ bot
                        │  │               │  ▲
                        │  │               │  └─transfer (another CSR)
                        │  │               └──close──▶ closed
                        │  ├──close──▶ closed
                        │  ├──abandon──▶ abandoned
                        │  └──to_ticket──▶ ticket
    closed / abandoned / ticket ──escalate──▶ queued   (a returning customer)
    closed / abandoned / ticket ──reopen_bot──▶ bot
"""

from __future__ import annotations

from enum import Enum
from typing import FrozenSet, Mapping, Union

from handoff.core.errors import InvalidTransition


class State(str, Enum):
    """Who has the conversation right now."""

    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    CLOSED = "closed"
    ABANDONED = "abandoned"
    TICKET = "ticket"


class Event(str, Enum):
    """Something that happens to a conversation and may change its state."""

    ESCALATE = "escalate"
    CLAIM = "claim"
    TRANSFER = "transfer"
    RELEASE = "release"
    CLOSE = "close"
    ABANDON = "abandon"
    TO_TICKET = "to_ticket"
    REOPEN_BOT = "reopen_bot"


_ENDED = (State.CLOSED, State.ABANDONED, State.TICKET)

# event -> {state before: state after}. Anything missing is illegal.
TRANSITIONS: Mapping[Event, Mapping[State, State]] = {
    Event.ESCALATE: {State.BOT: State.QUEUED, **{s: State.QUEUED for s in _ENDED}},
    Event.CLAIM: {State.QUEUED: State.ASSIGNED},
    Event.TRANSFER: {State.ASSIGNED: State.ASSIGNED},
    Event.RELEASE: {State.ASSIGNED: State.BOT},
    Event.CLOSE: {State.ASSIGNED: State.CLOSED, State.QUEUED: State.CLOSED},
    Event.ABANDON: {State.QUEUED: State.ABANDONED},
    Event.TO_TICKET: {State.QUEUED: State.TICKET},
    Event.REOPEN_BOT: {s: State.BOT for s in _ENDED},
}

StateLike = Union[State, str]


def as_state(value: StateLike) -> State:
    """Turn a stored string into a :class:`State`.

    Raises:
        ValueError: ``value`` names no state.
    """
    return value if isinstance(value, State) else State(value)


def next_state(state: StateLike, event: Event) -> State:
    """The state after ``event`` happens in ``state``.

    Raises:
        InvalidTransition: the lifecycle does not allow ``event`` in ``state``.
    """
    current = as_state(state)
    after = TRANSITIONS[event].get(current)
    if after is None:
        raise InvalidTransition(f"cannot {event.value} a conversation that is {current.value}")
    return after


def allowed_events(state: StateLike) -> FrozenSet[Event]:
    """Every event that is legal in ``state`` (the console uses it to enable buttons)."""
    current = as_state(state)
    return frozenset(e for e, moves in TRANSITIONS.items() if current in moves)


def escalate(state: StateLike) -> State:
    """The bot (or a returning customer) asks for a person."""
    return next_state(state, Event.ESCALATE)


def claim(state: StateLike) -> State:
    """A CSR takes a waiting conversation."""
    return next_state(state, Event.CLAIM)


def transfer(state: StateLike, current_csr: str, new_csr: str) -> State:
    """The assigned CSR hands the conversation to a colleague.

    Raises:
        InvalidTransition: the conversation is not assigned, or ``new_csr``
            already has it.
    """
    after = next_state(state, Event.TRANSFER)
    if not new_csr or new_csr == current_csr:
        raise InvalidTransition(f"conversation is already assigned to {current_csr!r}")
    return after


def release(state: StateLike) -> State:
    """The CSR hands the conversation back to the bot."""
    return next_state(state, Event.RELEASE)


def close(state: StateLike) -> State:
    """The CSR (or an admin, for a queued one) ends the conversation."""
    return next_state(state, Event.CLOSE)


def abandon(state: StateLike) -> State:
    """The customer left before a CSR claimed the conversation."""
    return next_state(state, Event.ABANDON)


def to_ticket(state: StateLike) -> State:
    """No CSR was available; the customer left an email address for follow-up."""
    return next_state(state, Event.TO_TICKET)


def reopen_bot(state: StateLike) -> State:
    """A customer whose conversation ended writes again and the bot answers."""
    return next_state(state, Event.REOPEN_BOT)
