"""What a shift operator does to letters and devices: hold, release, cancel, pull; take a device off the plan.

Every action works on the ledger alone, one transaction per id given, by compare-and-set from the state it
read, with one event per letter and the next messages in the outbox — so it is safe beside a running plant
(the plan stage, the spool stage and a second operator all race through the same compare-and-sets) and, with
no plant running, takes effect when one starts (``plant resume``).

What each action may do depends on whether paper can exist for the piece:

* **hold** (RECEIVED, PRINT_READY, PLANNED, IMPOSED): a piece already in a job not yet spooled is taken out of
  it — the job is released (:func:`plant.ledger.jobs.release_job`: the job REPLANNED, its other pieces
  planned again into new jobs) and the piece held. Once spooled, a hold is refused: pull it.
* **release**: a held piece goes back where it was held from (PRINT_READY: planned again; RECEIVED: checked
  and routed again).
* **cancel** (before spooling, like hold; and HELD): final, CANCELLED, the postage mark annulled. Refused once
  paper may exist (SPOOLED, PRINTED, INSERTED), with the state and the way out: pull.
* **pull** (any state short of DISPATCHED): final, PULLED, the postage mark annulled; never dispatched. A
  piece already spooled is outsorted by the inserter (its mail run data sets the divert flag), one already
  enveloped is left out of the handover manifest and must be taken out of the inserter's output by hand.

A job the spool stage *parked* (its printer has no record of it after a submission attempt, or lost its
record of a job it took: paper may or may not exist) waits for one of two actions, each recorded with who and
why: **reprint** (:func:`job_reprint`: PARKED → SPOOLING, submitted again with the same pieces and tracking
ids) or **printed** (:func:`job_printed`: the operator found its sheets; PARKED → PRINTED, its pieces
SPOOLED, its insert run created). :func:`parked` lists them with their facts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Connection, Row, insert, or_, select, update

from plant.config import Settings
from plant.errors import MovedMeanwhile, NotFound, Refused
from plant.fleet.runs import choose_inserter
from plant.fleet.service import out_of_service, service_rows, set_service
from plant.ledger import Ledger, enqueue, move_entity, move_letters, now
from plant.ledger import schema as t
from plant.ledger.jobs import (
    OPERATOR_PRINTED,
    OPERATOR_REPRINT,
    job_pieces,
    load_job,
    parked_from,
    parked_jobs,
    release_job,
    release_printer_jobs,
    spooled_jobs,
    unpark_letters,
)
from plant.model import FINAL_STATES, Event, JobState, RunState, State, run_name
from plant.postage.marks import MarkState, move_mark

#: States in which paper may exist for a piece: hold and cancel are refused, pull is the way.
PAPER_STATES = frozenset({State.SPOOLED, State.PRINTED, State.INSERTED})
#: States from which a piece is taken out of a job that is not yet on a press.
IN_JOB = frozenset({State.PLANNED, State.IMPOSED})
#: Receipt codes of an operator's actions.
HELD_CODE = "HELD_BY_OPERATOR"
CANCELLED_CODE = "CANCELLED_BY_OPERATOR"
PULLED_CODE = "PULLED_BY_OPERATOR"
#: Who an action is recorded as (the events' ``by``) when no operator is named, as from the command line.
OPERATOR = "operator"


class Action(StrEnum):
    """What an operator does to letters."""

    HOLD = "hold"
    RELEASE = "release"
    CANCEL = "cancel"
    PULL = "pull"


@dataclass(frozen=True)
class Outcome:
    """The result of one action on one id: done or not, a word for it, and what happened or what to do."""

    identifier: str
    done: bool
    word: str
    message: str = ""

    def line(self) -> str:
        """The line the command prints: id, outcome, message (tab-separated)."""
        return f"{self.identifier}\t{self.word}\t{self.message}".rstrip()


class LetterRow(Protocol):
    """A letter as :func:`find_letters` reads it: its columns, then its piece's (None without a piece)."""

    @property
    def pk(self) -> int: ...
    @property
    def submission_id(self) -> str: ...
    @property
    def letter_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def held_from(self) -> str | None: ...
    @property
    def piece_id(self) -> int | None: ...
    @property
    def tracking_id(self) -> str | None: ...
    @property
    def job_id(self) -> str | None: ...
    @property
    def run_id(self) -> str | None: ...


#: Times an action is tried again when its piece moved under it (the plan or spool stage got there first).
ATTEMPTS = 3


# -- finding letters -----------------------------------------------------------------------------------------
_COLUMNS = (
    t.letters.c.pk,
    t.letters.c.submission_id,
    t.letters.c.letter_id,
    t.letters.c.state,
    t.letters.c.held_from,
    t.pieces.c.piece_id,
    t.pieces.c.tracking_id,
    t.pieces.c.job_id,
    t.pieces.c.run_id,
)


def find_letters(conn: Connection, identifier: str) -> Sequence[LetterRow]:
    """The letters ``identifier`` names: a tracking id, a letter id, or a submission id (all its letters)."""
    joined = t.letters.outerjoin(t.pieces, t.pieces.c.letter_pk == t.letters.c.pk)
    rows = conn.execute(
        select(*_COLUMNS)
        .select_from(joined)
        .where(
            or_(
                t.pieces.c.tracking_id == identifier,
                t.letters.c.letter_id == identifier,
                t.letters.c.submission_id == identifier,
            )
        )
        .order_by(t.letters.c.pk)
    ).all()
    by_submission = [r for r in rows if r.submission_id == identifier]
    return by_submission or rows


def _label(row: LetterRow) -> str:
    return f"{row.letter_id} ({row.tracking_id})" if row.tracking_id else row.letter_id


def _job(conn: Connection, job_id: str | None) -> Row[Any] | None:
    if job_id is None:
        return None
    return conn.execute(select(t.print_jobs).where(t.print_jobs.c.job_id == job_id)).first()


# -- the actions on one letter -------------------------------------------------------------------------------
def _take_out_of_job(conn: Connection, row: LetterRow, why: str) -> tuple[State, str]:
    """Release the job of a PLANNED/IMPOSED piece so the piece can leave it; return its state then and a note.

    Raises :class:`Refused` when the job is already being handed to its press (paper may follow).
    """
    job = _job(conn, row.job_id)
    if job is None or release_job(conn, job.job_id, why) is None:
        where = (
            f"job {job.job_id} is {job.state.lower()} on {job.printer}" if job else "its job is on a press"
        )
        raise Refused(
            f"{State(row.state).value}, but {where}: paper may exist; pull it instead "
            f"(`plant pull {row.tracking_id or row.letter_id}`)."
        )
    others = conn.execute(
        select(t.pieces.c.piece_id)
        .select_from(
            t.job_pieces.join(t.pieces, t.pieces.c.piece_id == t.job_pieces.c.piece_id).join(
                t.letters, t.letters.c.pk == t.pieces.c.letter_pk
            )
        )
        .where(
            t.job_pieces.c.job_id == job.job_id,
            t.letters.c.pk != row.pk,
            t.letters.c.state == State.PRINT_READY.value,
        )
    ).all()
    return State.PRINT_READY, f"taken out of job {job.job_id} ({len(others)} other piece(s) planned again)"


def _move(conn: Connection, row: LetterRow, event: Event, state: State, **kwargs: Any) -> None:
    if not move_letters(conn, [row.pk], event, state, **kwargs):
        now_state = conn.execute(select(t.letters.c.state).where(t.letters.c.pk == row.pk)).scalar_one()
        raise MovedMeanwhile(
            f"moved to {now_state} meanwhile; look at `plant status "
            f"{row.tracking_id or row.letter_id}` and try again."
        )


def _annul_mark(conn: Connection, row: LetterRow, why: str) -> None:
    if row.piece_id is not None:
        move_mark(conn, str(row.piece_id), MarkState.ON_HOLD, MarkState.ANNULLED, "annul", why, now())


def hold(conn: Connection, row: LetterRow, reason: str, by: str = OPERATOR) -> tuple[bool, str]:
    """Hold one letter; return whether it changed and what happened (raises :class:`Refused`)."""
    state = State(row.state)
    if state is State.HELD:
        return False, "already held"
    note = ""
    if state in IN_JOB:
        state, note = _take_out_of_job(conn, row, f"hold of {_label(row)}")
    elif state in PAPER_STATES:
        raise Refused(
            f"{state.value}: paper may exist for it, so it can no longer be held; pull it instead "
            f"(`plant pull {row.tracking_id}`) and it is never dispatched."
        )
    elif state not in (State.RECEIVED, State.PRINT_READY):
        raise Refused(f"{state.value}: {'final' if state in FINAL_STATES else 'passing'}; nothing to hold.")
    _move(
        conn,
        row,
        Event.HOLD,
        state,
        data={"by": by, "reason": reason},
        extra={"reason_code": HELD_CODE, "reason": reason},
    )
    enqueue(conn, "receipts", row.submission_id)
    return True, "; ".join(x for x in (f"held from {state.value}", note) if x)


def release(conn: Connection, row: LetterRow, reason: str, by: str = OPERATOR) -> tuple[bool, str]:
    """Release one held letter back where it was held from (raises :class:`Refused`)."""
    state = State(row.state)
    if state is not State.HELD:
        if state in FINAL_STATES:
            raise Refused(f"{state.value}: final; nothing to release.")
        return False, f"not held ({state.value}); nothing to release"
    if row.held_from is None:  # every hold records it; a row without it was not held by this plant's code
        raise Refused(
            "HELD, but the ledger does not say from which state; look at `plant status "
            f"{row.tracking_id or row.letter_id}`, then cancel or pull it instead."
        )
    back = State(row.held_from)
    _move(
        conn,
        row,
        Event.RELEASE,
        State.HELD,
        held_from=back,
        data={"by": by, "reason": reason},
        extra={"reason_code": None, "reason": None},
    )
    for actor in {State.PRINT_READY: ("plan",), State.RECEIVED: ("preflight", "route")}.get(back, ()):
        enqueue(conn, actor, row.submission_id)
    enqueue(conn, "receipts", row.submission_id)
    return True, f"released to {back.value}" + ("; planned again" if back is State.PRINT_READY else "")


def cancel(conn: Connection, row: LetterRow, reason: str, by: str = OPERATOR) -> tuple[bool, str]:
    """Cancel one letter before any paper exists for it (raises :class:`Refused`)."""
    state = State(row.state)
    if state is State.CANCELLED:
        return False, "already cancelled"
    if state in PAPER_STATES:
        raise Refused(
            f"{state.value}: paper may exist for it, so it can no longer be cancelled; pull it instead "
            f"(`plant pull {row.tracking_id}`): the inserter outsorts it, or it is left out of the "
            "manifest, and it is never dispatched."
        )
    if state in FINAL_STATES:
        raise Refused(f"{state.value}: final; too late to cancel.")
    note = ""
    if state in IN_JOB:
        state, note = _take_out_of_job(conn, row, f"cancel of {_label(row)}")
    _move(
        conn,
        row,
        Event.CANCEL,
        state,
        data={"by": by, "reason": reason},
        extra={"reason_code": CANCELLED_CODE, "reason": reason},
    )
    _annul_mark(conn, row, f"annulled: letter cancelled by the operator ({reason})")
    enqueue(conn, "receipts", row.submission_id)
    return True, "; ".join(x for x in ("cancelled", note) if x)


def pull(conn: Connection, row: LetterRow, reason: str, by: str = OPERATOR) -> tuple[bool, str]:
    """Pull a letter so it is never dispatched, wherever it is short of the post (raises :class:`Refused`)."""
    state = State(row.state)
    if state is State.PULLED:
        return False, "already pulled"
    if state is State.DISPATCHED:
        raise Refused(f"DISPATCHED: already handed to the post; ask the post to intercept {row.tracking_id}.")
    if state in FINAL_STATES:
        raise Refused(f"{state.value}: final; nothing to pull.")
    note = ""
    if state in IN_JOB:
        try:
            state, note = _take_out_of_job(conn, row, f"pull of {_label(row)}")
        except Refused:  # its job is going to the press: the piece stays in it and the inserter outsorts it
            job = _job(conn, row.job_id)
            note = (
                f"its job {row.job_id} is going to {job.printer if job else 'the press'}: "
                "the inserter outsorts it"
            )
    elif state is State.SPOOLED:
        job = _job(conn, row.job_id)
        note = f"printed in job {row.job_id} on {job.printer if job else 'a press'}: the inserter outsorts it"
    elif state in (State.PRINTED, State.INSERTED):
        run = row.run_id or "its run"
        note = (
            f"already enveloped in {run}: take envelope {row.tracking_id} out of the inserter's output; it "
            "is left out of the handover manifest"
        )
    _move(
        conn,
        row,
        Event.PULL,
        state,
        data={"by": by, "reason": reason},
        extra={"reason_code": PULLED_CODE, "reason": reason},
    )
    _annul_mark(conn, row, f"annulled: piece pulled by the operator ({reason})")
    enqueue(conn, "receipts", row.submission_id)
    return True, "; ".join(x for x in ("pulled", note) if x)


#: Action → what it does to one letter.
ACTIONS: dict[Action, Callable[[Connection, LetterRow, str, str], tuple[bool, str]]] = {
    Action.HOLD: hold,
    Action.RELEASE: release,
    Action.CANCEL: cancel,
    Action.PULL: pull,
}
#: The word printed for an action done.
_DONE = {Action.HOLD: "held", Action.RELEASE: "released", Action.CANCEL: "cancelled", Action.PULL: "pulled"}


def act(
    ledger: Ledger, action: Action, identifiers: Sequence[str], reason: str = "", by: str = OPERATOR
) -> list[Outcome]:
    """Apply ``action`` to every id (one transaction each); one :class:`Outcome` per id, in order. ``by``
    names the operator in the events (``data.by``)."""
    reason = reason or f"{action.value} by the operator"
    return [_act_one(ledger, action, identifier, reason, by) for identifier in identifiers]


def _act_one(ledger: Ledger, action: Action, identifier: str, reason: str, by: str) -> Outcome:
    for _ in range(ATTEMPTS - 1):
        try:
            return _try_one(ledger, action, identifier, reason, by)
        except MovedMeanwhile:
            continue  # read again: the piece is where the stage put it now
    return _try_one(ledger, action, identifier, reason, by, last=True)


def _try_one(
    ledger: Ledger, action: Action, identifier: str, reason: str, by: str, last: bool = False
) -> Outcome:
    try:
        with ledger.tx() as conn:
            rows = find_letters(conn, identifier)
            if not rows:
                return Outcome(
                    identifier, False, "not found", "no letter, tracking or submission id like this"
                )
            if len({r.submission_id for r in rows}) > 1 and rows[0].submission_id != identifier:
                subs = ", ".join(sorted({r.submission_id for r in rows}))
                return Outcome(
                    identifier,
                    False,
                    "ambiguous",
                    f"letter id used in submissions {subs}; give the tracking id instead",
                )
            if len(rows) == 1:
                changed, message = ACTIONS[action](conn, rows[0], reason, by)
                return Outcome(identifier, True, _DONE[action] if changed else "unchanged", message)
            return _act_on_submission(conn, action, identifier, rows, reason, by)
    except MovedMeanwhile as exc:
        if not last:
            raise
        return Outcome(identifier, False, "refused", str(exc))
    except Refused as exc:
        return Outcome(identifier, False, "refused", str(exc))


def _act_on_submission(
    conn: Connection, action: Action, identifier: str, rows: Sequence[LetterRow], reason: str, by: str
) -> Outcome:
    """A whole submission: every letter not yet final; refusals are counted, not fatal (each letter moves by
    its own compare-and-set inside this transaction)."""
    done, unchanged, final = 0, 0, 0
    refused: dict[str, int] = {}
    for row in rows:
        if State(row.state) in FINAL_STATES:
            final += 1
            continue
        try:
            with conn.begin_nested():
                changed, _ = ACTIONS[action](conn, row, reason, by)
            done += changed
            unchanged += not changed
        except Refused:
            refused[row.state] = refused.get(row.state, 0) + 1
    parts = [f"{done} of {len(rows)} letter(s) {_DONE[action]}"]
    parts += [f"{unchanged} unchanged"] if unchanged else []
    parts += [f"{final} already final"] if final else []
    parts += [
        f"{n} refused ({state}{': pull them' if State(state) in PAPER_STATES else ''})"
        for state, n in sorted(refused.items())
    ]
    return Outcome(identifier, not refused, _DONE[action] if not refused else "partly", "; ".join(parts))


# -- devices -------------------------------------------------------------------------------------------------
def device_kind(settings: Settings, name: str) -> str:
    """``printer`` or ``inserter``; raises :class:`NotFound` naming the configured devices otherwise."""
    if name in {p.name for p in settings.printers}:
        return "printer"
    if name in {i.name for i in settings.inserters}:
        return "inserter"
    names = ", ".join([p.name for p in settings.printers] + [i.name for i in settings.inserters])
    raise NotFound(f"No device {name!r} in the configuration; the devices are: {names}.", device=name)


def device_down(
    ledger: Ledger, settings: Settings, name: str, reason: str = "", by: str = OPERATOR
) -> Outcome:
    """Take a device out of the plan: its jobs not yet on it are planned again at once; a running plant then
    withdraws the spooled ones the press provably never took. Jobs the press has started stay on it."""
    kind = device_kind(settings, name)
    reason = reason or "taken out of service by the operator"
    with ledger.tx() as conn:
        before, _ = set_service(conn, name, kind, operator_down=True, reason=reason, by=by)
        released = release_printer_jobs(conn, name, f"{name}: {reason}") if kind == "printer" else []
        spooled = spooled_jobs(conn, name) if kind == "printer" else []
        enqueue(conn, "device_check", name)
    parts = ["out of service" + (" (already)" if before else "")]
    if released:
        parts.append(f"{len(released)} job(s) not yet on it planned again ({', '.join(released)})")
    if spooled:
        parts.append(
            f"{len(spooled)} spooled job(s) stay unless it never took them (withdrawn by the running "
            f"plant): {', '.join(spooled)}"
        )
    if kind == "inserter":
        parts.append(
            "the running plant moves its runs not yet at it to another inserter (and withdraws those it "
            "provably never started); runs it has started stay"
        )
    return Outcome(name, True, "down", "; ".join(parts))


def device_up(ledger: Ledger, settings: Settings, name: str, by: str = OPERATOR) -> Outcome:
    """Put a device back in the plan; the letters waiting for a device are planned again."""
    kind = device_kind(settings, name)
    with ledger.tx() as conn:
        before, after = set_service(conn, name, kind, operator_down=False, by=by)
    if after:
        return Outcome(name, False, "still down", "a sweep saw it stopped; it rejoins when it runs again")
    return Outcome(name, True, "up", "back in the plan" if before else "in service (already)")


def device_status(ledger: Ledger, settings: Settings) -> list[Outcome]:
    """One line per configured device: in service, or out and why."""
    with ledger.read() as conn:
        rows = service_rows(conn)
    lines = []
    for name in [p.name for p in settings.printers] + [i.name for i in settings.inserters]:
        row = rows.get(name)
        if row is not None and row.operator_down:
            lines.append(Outcome(name, False, "down", f"operator: {row.reason or ''}".rstrip(": ")))
        elif row is not None and row.stopped_down:
            lines.append(Outcome(name, False, "down", "stopped longer than plan.replan_after_s"))
        elif row is not None and row.stopped_since is not None:
            lines.append(Outcome(name, True, "up", "stopped; leaves the plan after plan.replan_after_s"))
        else:
            lines.append(Outcome(name, True, "up"))
    return lines


# -- parked jobs ---------------------------------------------------------------------------------------------
def _parked(conn: Connection, job_id: str) -> Row[Any]:
    """The PARKED job ``job_id``; raises :class:`NotFound`, or :class:`Refused` saying its state."""
    job = load_job(conn, job_id)
    if job is None:
        raise NotFound(f"No print job {job_id!r} in the ledger; `plant job parked` lists the parked ones.")
    if job.state != JobState.PARKED.value:
        raise Refused(f"job {job_id} is {job.state}, not PARKED: only a parked job is reprinted or marked.")
    return job


def _unpark(
    conn: Connection, job_id: str, target: JobState, event: str, letters_event: str, by: str, reason: str
) -> tuple[Row[Any], dict[str, Any], JobState]:
    """Move parked job ``job_id`` to ``target`` with the operator's ``event`` (who and why in its data) and
    take its letters out of parking (``letters_event``), by compare-and-set: the job's row, the event data and
    the state the job was parked from (SPOOLING: its letters IMPOSED; SPOOLED: its letters SPOOLED);
    :class:`Refused` when the job moved meanwhile."""
    job = _parked(conn, job_id)
    source = parked_from(conn, job_id)
    data = {"by": by, "reason": reason, "printer": job.printer}
    if not move_entity(
        conn,
        t.print_jobs,
        t.print_jobs.c.job_id,
        job_id,
        JobState.PARKED.value,
        target.value,
        event,
        "job",
        {**data, "parked_from": source.value},
    ):
        raise Refused(f"job {job_id} moved meanwhile; look at `plant job parked` and try again.")
    unpark_letters(conn, job_id, letters_event, {"job": job_id, **data, "parked_from": source.value}, source)
    return job, data, source


def job_reprint(ledger: Ledger, job_id: str, reason: str = "", by: str = OPERATOR) -> Outcome:
    """Print a parked job again, same pieces and tracking ids: PARKED → SPOOLING (event ``operator_reprint``
    with ``by`` and ``reason``, which closes its open submission attempts) and a ``spool`` message; the spool
    stage submits it once more (unless the printer turns out to have it after all, which is then followed).

    A job parked from SPOOLING has its letters IMPOSED: the spool stage moves them on (→ SPOOLED, one more
    print each) as on a first hand-over. A job parked from SPOOLED has its letters SPOOLED already: they stay
    SPOOLED, and the second hand-over the operator ordered is counted here (``prints`` + 1 beside the
    ``job_reprint`` event of each letter), so the paper of both hand-overs is accounted for (the
    job's second → SPOOLED event is the spool stage's)."""
    reason = reason or "reprint by the operator: the printer has no record and no sheets were found"
    try:
        with ledger.tx() as conn:
            job, _, source = _unpark(
                conn, job_id, JobState.SPOOLING, OPERATOR_REPRINT, "job_reprint", by, reason
            )
            if source is JobState.SPOOLED:
                again = [r.pk for r in job_pieces(conn, job_id) if r.state == State.SPOOLED.value]
                if again:
                    conn.execute(
                        update(t.pieces)
                        .where(t.pieces.c.letter_pk.in_(again), t.pieces.c.job_id == job_id)
                        .values(prints=t.pieces.c.prints + 1)
                    )
            enqueue(conn, "spool", job_id)
            enqueue(conn, "receipts", job.submission_id)
    except (NotFound, Refused) as exc:
        return Outcome(job_id, False, "refused", str(exc))
    return Outcome(job_id, True, "reprint", f"sent to {job.printer} again (same pieces and tracking ids)")


def job_printed(ledger: Ledger, settings: Settings, job_id: str, reason: str, by: str = OPERATOR) -> Outcome:
    """Mark a parked job printed after inspection (its sheets were found): PARKED → PRINTED (event
    ``operator_printed`` with ``by`` and ``reason``), its pieces SPOOLED (IMPOSED → SPOOLED, one print
    each, for a job parked from SPOOLING; already SPOOLED, with no further print, for one parked from
    SPOOLED), its insert run created and an ``insert`` message queued. The pieces become PRINTED only when
    the inserter reads their sheets."""
    if not reason.strip():
        return Outcome(job_id, False, "refused", "say what the inspection found: --reason TEXT")
    try:
        with ledger.tx() as conn:
            job, data, _ = _unpark(
                conn, job_id, JobState.PRINTED, OPERATOR_PRINTED, "job_marked_printed", by, reason
            )
            rows = job_pieces(conn, job_id)
            moved = move_letters(
                conn,
                [r.pk for r in rows if r.state == State.IMPOSED.value],
                Event.SPOOL,
                State.IMPOSED,
                data={"job": job_id, **data},
            )
            conn.execute(
                update(t.pieces).where(t.pieces.c.letter_pk.in_(moved)).values(prints=t.pieces.c.prints + 1)
            )
            going = len(moved) + sum(1 for r in rows if r.state == State.SPOOLED.value)
            run_id, inserter = open_insert_run(conn, settings, job, [i.name for i in settings.inserters])
            enqueue(conn, "receipts", job.submission_id)
    except (NotFound, Refused) as exc:
        return Outcome(job_id, False, "refused", str(exc))
    return Outcome(
        job_id, True, "printed", f"{going} piece(s) go on to insertion: run {run_id} on {inserter}"
    )


def open_insert_run(
    conn: Connection, settings: Settings, job: Any, inserters: Collection[str]
) -> tuple[str, str]:
    """Create the insert run of a printed ``job`` and queue its ``insert`` message; return (run id,
    inserter). The planner's inserter when it is one of ``inserters`` and in the plan, else one in service
    that takes the job; none: the planner's, where the run waits for one."""
    down = out_of_service(conn)  # an inserter out of the plan gets no new run: one in service takes it
    inserter = (
        job.inserter
        if job.inserter in inserters and job.inserter not in down
        else choose_inserter(conn, settings, job, down) or job.inserter
    )
    stamp = now()
    number = conn.execute(
        insert(t.insert_runs)
        .values(
            job_id=job.job_id,
            inserter=inserter,
            state=RunState.CREATED.value,
            created_at=stamp,
            updated_at=stamp,
        )
        .returning(t.insert_runs.c.number)
    ).scalar_one()
    run_id = run_name(number)
    conn.execute(update(t.insert_runs).where(t.insert_runs.c.number == number).values(run_id=run_id))
    enqueue(conn, "insert", run_id)
    return run_id, inserter


def parked(ledger: Ledger) -> list[Outcome]:
    """One line per parked job: its printer, pieces and the facts the spool stage recorded."""
    with ledger.read() as conn:
        jobs = parked_jobs(conn)
    lines = []
    for job, facts in jobs:
        at = facts.get("last_attempt_at")
        when = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds") if at else "?"
        lines.append(
            Outcome(
                job.job_id,
                False,
                "parked",
                f"printer {job.printer} (as {facts.get('device_name') or job.job_id}), "
                f"{job.pieces} piece(s), {facts.get('attempts', '?')} attempt(s), last at {when}; "
                f"the submit call: {facts.get('submit_call', '?')}; "
                f"the printer: {facts.get('device_record', '?')}",
            )
        )
    return lines
