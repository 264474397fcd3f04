"""The conversation state machine: every legal move, and every illegal one refused."""

from __future__ import annotations

import itertools

import pytest

from handoff.core import lifecycle
from handoff.core.errors import InvalidTransition
from handoff.core.lifecycle import Event, State

LEGAL = {
    (State.BOT, Event.ESCALATE): State.QUEUED,
    (State.CLOSED, Event.ESCALATE): State.QUEUED,
    (State.ABANDONED, Event.ESCALATE): State.QUEUED,
    (State.TICKET, Event.ESCALATE): State.QUEUED,
    (State.QUEUED, Event.CLAIM): State.ASSIGNED,
    (State.ASSIGNED, Event.TRANSFER): State.ASSIGNED,
    (State.ASSIGNED, Event.RELEASE): State.BOT,
    (State.ASSIGNED, Event.CLOSE): State.CLOSED,
    (State.QUEUED, Event.CLOSE): State.CLOSED,
    (State.QUEUED, Event.ABANDON): State.ABANDONED,
    (State.QUEUED, Event.TO_TICKET): State.TICKET,
    (State.CLOSED, Event.REOPEN_BOT): State.BOT,
    (State.ABANDONED, Event.REOPEN_BOT): State.BOT,
    (State.TICKET, Event.REOPEN_BOT): State.BOT,
}
ILLEGAL = [pair for pair in itertools.product(State, Event) if pair not in LEGAL]

NAMED = {
    Event.ESCALATE: lifecycle.escalate,
    Event.CLAIM: lifecycle.claim,
    Event.RELEASE: lifecycle.release,
    Event.CLOSE: lifecycle.close,
    Event.ABANDON: lifecycle.abandon,
    Event.TO_TICKET: lifecycle.to_ticket,
    Event.REOPEN_BOT: lifecycle.reopen_bot,
    Event.TRANSFER: lambda s: lifecycle.transfer(s, "alice", "bob"),
}


@pytest.mark.parametrize("state,event", list(LEGAL))
def test_legal_transitions(state, event):
    assert lifecycle.next_state(state, event) is LEGAL[(state, event)]
    assert NAMED[event](state) is LEGAL[(state, event)]
    assert NAMED[event](state.value) is LEGAL[(state, event)]  # stored strings work too
    assert event in lifecycle.allowed_events(state)


@pytest.mark.parametrize("state,event", ILLEGAL)
def test_illegal_transitions_raise(state, event):
    with pytest.raises(InvalidTransition, match=event.value):
        NAMED[event](state)
    assert event not in lifecycle.allowed_events(state)


def test_every_pair_is_classified():
    assert len(LEGAL) + len(ILLEGAL) == len(State) * len(Event)


def test_transfer_needs_a_different_csr():
    with pytest.raises(InvalidTransition):
        lifecycle.transfer(State.ASSIGNED, "alice", "alice")
    with pytest.raises(InvalidTransition):
        lifecycle.transfer(State.ASSIGNED, "alice", "")


def test_unknown_state_is_rejected():
    with pytest.raises(ValueError):
        lifecycle.claim("sleeping")
