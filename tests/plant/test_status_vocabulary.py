"""The receipt status vocabulary matches the lifecycle exactly."""

from plant.model import FINAL_STATES, State
from tracking.status import STATUSES, final_statuses, status


def test_every_lifecycle_state_has_a_receipt_status():
    """Each state of the lifecycle is documented in the vocabulary, and nothing else is."""
    assert {s.name for s in STATUSES} == {s.value for s in State}


def test_final_statuses_agree_with_the_lifecycle():
    """A status is final in the vocabulary exactly when the lifecycle never leaves it."""
    assert final_statuses() == {s.value for s in FINAL_STATES}


def test_final_failures_tell_the_sender_what_to_do():
    """Every final status that is not a success says what the sender can do."""
    for entry in STATUSES:
        if entry.final and entry.name not in ("DISPATCHED", "DELIVERED_DIGITAL", "CANCELLED"):
            assert entry.sender_action, entry.name
    assert "tracking id" in status("DISPATCHED").meaning
