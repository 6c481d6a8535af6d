"""The piece lifecycle's pure transition function."""

import pytest

from plant.errors import IllegalTransition
from plant.model import FINAL_STATES, Event, State, next_state

MAIN_PATH = [
    (State.RECEIVED, Event.ROUTE_PRINT, State.PRINT_READY),
    (State.PRINT_READY, Event.PLAN, State.PLANNED),
    (State.PLANNED, Event.IMPOSE, State.IMPOSED),
    (State.IMPOSED, Event.SPOOL, State.SPOOLED),
    (State.SPOOLED, Event.READ_DOWNSTREAM, State.PRINTED),
    (State.PRINTED, Event.INSERT, State.INSERTED),
    (State.INSERTED, Event.DISPATCH, State.DISPATCHED),
    (State.RECEIVED, Event.REJECT, State.REJECTED),
    (State.RECEIVED, Event.ROUTE_DIGITAL, State.DIGITAL),
    (State.DIGITAL, Event.DELIVER_DIGITAL, State.DELIVERED_DIGITAL),
    (State.DIGITAL, Event.FALLBACK_PRINT, State.PRINT_READY),
    (State.DELIVERED_DIGITAL, Event.FALLBACK_PRINT, State.PRINT_READY),
    (State.PRINTED, Event.SPOIL, State.SPOILED),
    (State.SPOILED, Event.REPRINT, State.PRINT_READY),
    (State.SPOOLED, Event.LOSE, State.UNACCOUNTED),
]


@pytest.mark.parametrize(("state", "event", "expected"), MAIN_PATH)
def test_lifecycle_edges(state, event, expected):
    """Each edge of DESIGN.md's lifecycle leads where the design says."""
    assert next_state(state, event) is expected


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (State.RECEIVED, Event.SPOOL),
        (State.SPOOLED, Event.INSERT),  # never INSERTED without being read as PRINTED first
        (State.PLANNED, Event.READ_DOWNSTREAM),
        (State.DISPATCHED, Event.DISPATCH),
        (State.REJECTED, Event.ROUTE_PRINT),
        (State.SPOOLED, Event.CANCEL),  # paper may exist: cancelling is too late
        (State.DISPATCHED, Event.PULL),
    ],
)
def test_illegal_transitions_raise(state, event):
    """An edge the lifecycle does not have raises IllegalTransition naming state and event."""
    with pytest.raises(IllegalTransition) as info:
        next_state(state, event)
    assert info.value.state == state and info.value.event == event
    assert "plant status" in str(info.value)


def test_hold_returns_to_where_it_was():
    """HELD ⇄ back where it was: release needs the state the piece was held from."""
    assert next_state(State.PLANNED, Event.HOLD) is State.HELD
    assert next_state(State.HELD, Event.RELEASE, held_from=State.PLANNED) is State.PLANNED
    with pytest.raises(IllegalTransition):
        next_state(State.HELD, Event.RELEASE)


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
def test_final_states_take_no_main_events(state):
    """A final state moves nowhere on the main events."""
    for event in (Event.PLAN, Event.SPOOL, Event.DISPATCH, Event.CANCEL, Event.FAIL, Event.PULL):
        with pytest.raises(IllegalTransition):
            next_state(state, event)


def test_cancel_only_before_printing():
    """Cancelling works before spooling only."""
    assert next_state(State.IMPOSED, Event.CANCEL) is State.CANCELLED
    assert next_state(State.RECEIVED, Event.CANCEL) is State.CANCELLED
