"""Ids, enums and the piece lifecycle with its pure transition function.

The lifecycle is DESIGN.md's: a letter is RECEIVED, then REJECTED, routed DIGITAL, or made PRINT_READY, and a
print piece walks PLANNED → IMPOSED → SPOOLED → PRINTED → INSERTED → DISPATCHED. :func:`next_state` is the
only place that knows the edges; every state change in the ledger asks it first, so an illegal transition is
an error before anything is written.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

from plant.errors import IllegalTransition

SubmissionId = NewType("SubmissionId", str)
LetterPk = NewType("LetterPk", int)
PieceId = NewType("PieceId", int)
JobId = NewType("JobId", str)
RunId = NewType("RunId", str)


class State(StrEnum):
    """Where a letter (and, once it goes to paper, its mail piece) stands."""

    RECEIVED = "RECEIVED"
    REJECTED = "REJECTED"
    DIGITAL = "DIGITAL"
    DELIVERED_DIGITAL = "DELIVERED_DIGITAL"
    PRINT_READY = "PRINT_READY"
    PLANNED = "PLANNED"
    IMPOSED = "IMPOSED"
    SPOOLED = "SPOOLED"
    PRINTED = "PRINTED"
    INSERTED = "INSERTED"
    DISPATCHED = "DISPATCHED"
    HELD = "HELD"
    CANCELLED = "CANCELLED"
    SPOILED = "SPOILED"
    PULLED = "PULLED"
    FAILED = "FAILED"
    UNACCOUNTED = "UNACCOUNTED"


class Event(StrEnum):
    """What happened to a piece; the lifecycle's edges are labelled with these."""

    REJECT = "reject"
    ROUTE_DIGITAL = "route_digital"
    DELIVER_DIGITAL = "deliver_digital"
    FALLBACK_PRINT = "fallback_print"
    ROUTE_PRINT = "route_print"
    PLAN = "plan"
    IMPOSE = "impose"
    SPOOL = "spool"
    READ_DOWNSTREAM = "read_downstream"
    INSERT = "insert"
    DISPATCH = "dispatch"
    HOLD = "hold"
    RELEASE = "release"
    CANCEL = "cancel"
    SPOIL = "spoil"
    REPRINT = "reprint"
    REPLAN = "replan"
    PULL = "pull"
    FAIL = "fail"
    LOSE = "lose"
    WITHDRAW = "withdraw"
    #: Manual reconciliation of an UNACCOUNTED piece: found in its envelope (to be dispatched) …
    FIND = "find"
    #: … or lost for good, with the operator's reason (FAILED, code ``LOST``).
    WRITE_OFF = "write_off"


#: States a letter never leaves without an operator's manual reconciliation.
FINAL_STATES = frozenset(
    {
        State.REJECTED,
        State.DELIVERED_DIGITAL,
        State.DISPATCHED,
        State.CANCELLED,
        State.PULLED,
        State.FAILED,
        State.UNACCOUNTED,
    }
)

#: States in which paper may exist for the piece: cancelling is refused from here on.
_PRINTING_OR_LATER = frozenset({State.SPOOLED, State.PRINTED, State.INSERTED, State.DISPATCHED})

#: The main edges: (from, event) → to.
_EDGES: dict[tuple[State, Event], State] = {
    (State.RECEIVED, Event.REJECT): State.REJECTED,
    (State.RECEIVED, Event.ROUTE_DIGITAL): State.DIGITAL,
    (State.RECEIVED, Event.ROUTE_PRINT): State.PRINT_READY,
    (State.DIGITAL, Event.DELIVER_DIGITAL): State.DELIVERED_DIGITAL,
    (State.DIGITAL, Event.FALLBACK_PRINT): State.PRINT_READY,
    # Delivered digitally but not opened in time: printed after all (the one timed exit of a final state).
    (State.DELIVERED_DIGITAL, Event.FALLBACK_PRINT): State.PRINT_READY,
    (State.PRINT_READY, Event.PLAN): State.PLANNED,
    (State.PLANNED, Event.IMPOSE): State.IMPOSED,
    # Imposition refused the letter's PDF for a fault of the sender's (pre-flight let it through): rejected
    # with the imposition's code, taken out of its job, which is planned again without it. A fault of the
    # plant's (a damaged stored copy, a mark that cannot be made) is FAIL, as from any state short of final.
    (State.PLANNED, Event.REJECT): State.REJECTED,
    (State.PLANNED, Event.REPLAN): State.PRINT_READY,
    (State.IMPOSED, Event.REPLAN): State.PRINT_READY,
    (State.IMPOSED, Event.SPOOL): State.SPOOLED,
    # The press proved it never took the job (its ticket was withdrawn before it was picked up): no paper
    # exists, so the piece is planned again like one never spooled. Only a driver that can prove it does this.
    (State.SPOOLED, Event.WITHDRAW): State.PRINT_READY,
    (State.SPOOLED, Event.READ_DOWNSTREAM): State.PRINTED,
    (State.PRINTED, Event.INSERT): State.INSERTED,
    (State.INSERTED, Event.DISPATCH): State.DISPATCHED,
    (State.SPOOLED, Event.SPOIL): State.SPOILED,
    (State.PRINTED, Event.SPOIL): State.SPOILED,
    (State.INSERTED, Event.SPOIL): State.SPOILED,
    (State.SPOILED, Event.REPRINT): State.PRINT_READY,
    (State.SPOOLED, Event.LOSE): State.UNACCOUNTED,
    (State.PRINTED, Event.LOSE): State.UNACCOUNTED,
    (State.INSERTED, Event.LOSE): State.UNACCOUNTED,
    # Manual reconciliation (plant/reconcile.py), the only ways out of UNACCOUNTED, each by an operator with a
    # reason: the envelope was found whole (INSERTED, then dispatched with its run); it was destroyed, or is
    # not to be found, and is printed again with the same ids (SPOILED, then the reprint edge); or it is lost
    # for good (FAILED, code LOST).
    (State.UNACCOUNTED, Event.FIND): State.INSERTED,
    (State.UNACCOUNTED, Event.SPOIL): State.SPOILED,
    (State.UNACCOUNTED, Event.WRITE_OFF): State.FAILED,
}

#: States an operator may put on hold (and later release back to).
_HOLDABLE = frozenset(
    {State.RECEIVED, State.PRINT_READY, State.PLANNED, State.IMPOSED, State.DIGITAL, State.SPOILED}
)


def next_state(state: State, event: Event, *, held_from: State | None = None) -> State:
    """Return the state a piece in ``state`` reaches on ``event``; raise :class:`IllegalTransition` otherwise.

    ``held_from`` is the state a HELD piece was in before it was held: RELEASE returns it there.
    """
    edge = _EDGES.get((state, event))
    if edge is not None:
        return edge
    if event is Event.HOLD and state in _HOLDABLE:
        return State.HELD
    if event is Event.RELEASE and state is State.HELD and held_from in _HOLDABLE:
        return held_from
    if event is Event.CANCEL and state not in FINAL_STATES and state not in _PRINTING_OR_LATER:
        return State.CANCELLED
    if event is Event.PULL and state not in FINAL_STATES:
        return State.PULLED
    if event is Event.FAIL and state not in FINAL_STATES:
        return State.FAILED
    raise IllegalTransition(str(state), str(event))


class JobState(StrEnum):
    """Where a print job stands in the plant (the device's own IPP state is kept beside it).

    A job is taken back for re-planning (REPLANNED: its pieces are planned again into new jobs, its id and PDF
    are never used again) only while no paper can exist: before the spool stage claims it (SPOOLING), or when
    its printer proves it never took the job (WITHDRAWING while the plant asks, then REPLANNED). A letter the
    impose stage cannot impose is taken out (REJECTED or FAILED) and its job REPLANNED with the others.

    FAILED is final and holds no work: the printer cancelled or aborted the job (SPOOLED → FAILED, its pieces
    spoiled and reprinted), or its imposition failed for a cause not of one letter's making on every attempt
    (PLANNED → FAILED, event ``impose_failed`` with the cause; its pieces HELD with code ``IMPOSE_FAILED``
    for an operator, who fixes the cause and releases them to be planned again).

    PARKED holds work for an operator: the spool stage found no record of a SPOOLING job on its printer
    although a submission of it was attempted (the attempt is recorded in the ledger before the driver's
    submit is called), so paper may or may not exist — a CUPS queue keeps only its last jobs, ippeveprinter
    forgets on a restart. It is never submitted again on a guess: an operator inspects the printer's output
    and either reprints it (PARKED → SPOOLING, same pieces and tracking ids) or marks it printed (PARKED →
    PRINTED: its pieces SPOOLED, its insert run created), each with who and why.
    """

    PLANNED = "PLANNED"
    IMPOSED = "IMPOSED"
    SPOOLING = "SPOOLING"
    SPOOLED = "SPOOLED"
    WITHDRAWING = "WITHDRAWING"
    REPLANNED = "REPLANNED"
    PARKED = "PARKED"
    PRINTED = "PRINTED"
    DONE = "DONE"
    FAILED = "FAILED"


class RunState(StrEnum):
    """Where an insert run stands.

    A CREATED run is not at its inserter (for N-up work its cutter may be cutting the sheets): it can be moved
    to another inserter. The insert stage claims it (SUBMITTING) before it hands it over, so a move and a
    hand-over never both win. A SUBMITTED run stays at its inserter unless the inserter proves it never
    started it (WITHDRAWING while the plant asks, then CREATED again, on an inserter in service).
    """

    CREATED = "CREATED"
    SUBMITTING = "SUBMITTING"
    SUBMITTED = "SUBMITTED"
    WITHDRAWING = "WITHDRAWING"
    RECONCILED = "RECONCILED"


class Channel(StrEnum):
    """How a letter reaches its recipient."""

    DIGITAL = "digital"
    PRINT = "print"


def job_name(number: int) -> JobId:
    """The job id for the ledger's job number, printed on every sheet (the ledger's own id; a device knows the
    job by :func:`device_name`)."""
    return JobId(f"J{number:06d}")


def run_name(number: int) -> RunId:
    """The insert-run id for the ledger's run number (a device knows the run by :func:`device_name`)."""
    return RunId(f"R{number:06d}")


#: A plant id: created once with the ledger (:func:`plant.ledger.jobs.ensure_plant_id`), 8 lower-case hex
#: digits (ippeveprinter lower-cases job names in its file names; lower case keeps them one name).
PLANT_ID_LENGTH = 8
#: The longest name a device is given: the printers' and inserters' portable job and run names (and the hot
#: folders' file stems) take 128 characters, CUPS and IPP job names 255 octets.
DEVICE_NAME_MAX = 128


def device_name(plant_id: str, ledger_id: str) -> str:
    """The name a device knows job or run ``ledger_id`` by: ``<plant id>-<ledger id>`` (``3fa9c21b-J000001``).

    Job and run numbers start again at 1 in every ledger, so a second plant, a staging copy or a ledger reset
    pointed at the same CUPS queue, printer or hot folder would otherwise "find" another ledger's job before
    submitting its own and print nothing."""
    name = f"{plant_id}-{ledger_id}"
    if not plant_id or len(name) > DEVICE_NAME_MAX:
        raise ValueError(f"no device name for {ledger_id!r} in plant {plant_id!r}")
    return name


def ledger_id(plant_id: str, name: str) -> str | None:
    """The ledger id of device name ``name`` when it is this plant's (:func:`device_name`), else None."""
    prefix = f"{plant_id}-"
    return name[len(prefix) :] if plant_id and name.startswith(prefix) else None
