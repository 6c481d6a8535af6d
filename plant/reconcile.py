"""The manual reconciliation queue: what an operator does with a piece the plant could not account for.

A piece is UNACCOUNTED when the inserter's word on it cannot be taken (no result, two results, "inserted"
with sheets missing — :mod:`plant.stages.insert`) or when a stage cannot know what became of its paper. The
plant never guesses; an operator looks for the envelope and ends it one of three ways, each with a reason,
recorded with who did it (the event's ``data.by``, ``data.reason``):

* **found** — the envelope is whole: INSERTED again (event ``find``) with the run it was enveloped in, and the
  dispatch stage hands it over with that run (``dispatch`` in the outbox: a running plant does it at once,
  otherwise the next ``plant resume`` or start) → DISPATCHED, in the handover manifest like any other piece.
* **reprint** — the envelope was destroyed (or is not to be found and the letter must still go): SPOILED
  (``spoil``), then the lifecycle's reprint edge → PRINT_READY, planned again with the same piece, tracking id
  and postage mark.
* **lost** — gone for good: FAILED with code ``LOST`` (event ``write_off``), the postage mark annulled so the
  envelope cannot be posted if it turns up.

Each is one transaction per id, a compare-and-set from UNACCOUNTED: two operators on one piece cannot both
win, and an action on a piece not UNACCOUNTED is refused naming its state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select

from plant.errors import MovedMeanwhile, Refused
from plant.ledger import Ledger, enqueue, move_letters, now
from plant.ledger import schema as t
from plant.model import Event, State
from plant.operator import OPERATOR, LetterRow, Outcome, find_letters
from plant.postage.marks import MarkState, move_mark

#: The receipt code of a piece an operator wrote off as lost.
LOST_CODE = "LOST"


class Resolution(StrEnum):
    """How an operator ends an UNACCOUNTED piece."""

    FOUND = "found"
    REPRINT = "reprint"
    LOST = "lost"


#: The word printed for a resolution done.
DONE = {Resolution.FOUND: "found", Resolution.REPRINT: "reprinted", Resolution.LOST: "lost"}


@dataclass(frozen=True)
class Unaccounted:
    """One piece waiting in the queue: its ids, where it was, since when and why."""

    letter_id: str
    tracking_id: str | None
    submission_id: str
    job_id: str | None
    run_id: str | None
    since: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the page's JSON and ``plant reconcile list --json``."""
        return {
            "letter_id": self.letter_id,
            "tracking_id": self.tracking_id,
            "submission_id": self.submission_id,
            "job_id": self.job_id,
            "run_id": self.run_id,
            "since": self.since,
            "reason": self.reason,
        }


def queue(conn: Connection) -> list[Unaccounted]:
    """Every UNACCOUNTED letter, oldest first."""
    letters, pieces = t.letters.c, t.pieces.c
    rows = conn.execute(
        select(
            letters.letter_id,
            letters.submission_id,
            letters.reason,
            letters.updated_at,
            pieces.tracking_id,
            pieces.job_id,
            pieces.run_id,
        )
        .select_from(t.letters.outerjoin(t.pieces, pieces.letter_pk == letters.pk))
        .where(letters.state == State.UNACCOUNTED.value)
        .order_by(letters.updated_at, letters.pk)
    ).all()
    return [
        Unaccounted(
            r.letter_id, r.tracking_id, r.submission_id, r.job_id, r.run_id, r.updated_at, r.reason or ""
        )
        for r in rows
    ]


# -- the resolutions of one piece ----------------------------------------------------------------------------
def _move(conn: Connection, row: LetterRow, event: Event, expect: State, **kwargs: Any) -> None:
    if not move_letters(conn, [row.pk], event, expect, **kwargs):
        state = conn.execute(select(t.letters.c.state).where(t.letters.c.pk == row.pk)).scalar_one()
        raise MovedMeanwhile(
            f"moved to {state} meanwhile (another operator?); look at `plant status "
            f"{row.tracking_id or row.letter_id}`."
        )


def _run_of(conn: Connection, row: LetterRow) -> str | None:
    """The insert run the piece was enveloped in: its own, else its job's."""
    if row.run_id:
        return row.run_id
    if row.job_id is None:
        return None
    found: str | None = conn.execute(
        select(t.insert_runs.c.run_id).where(t.insert_runs.c.job_id == row.job_id)
    ).scalar()
    return found


def found(conn: Connection, row: LetterRow, reason: str, by: str) -> str:
    """The envelope is whole: INSERTED with its run, handed over by the dispatch stage."""
    run = _run_of(conn, row)
    if run is None:
        raise Refused(
            "UNACCOUNTED, but the ledger knows no insert run it was enveloped in, so it cannot be handed "
            f"over; reprint it (`plant reconcile reprint {row.tracking_id or row.letter_id}`) or write it "
            "off as lost."
        )
    data = {"by": by, "reason": reason, "run": run}
    _move(conn, row, Event.FIND, State.UNACCOUNTED, data=data, extra=_cleared())
    conn.execute(t.pieces.update().where(t.pieces.c.letter_pk == row.pk).values(run_id=run))
    enqueue(conn, "dispatch", run)
    enqueue(conn, "receipts", row.submission_id)
    return f"INSERTED; dispatched with run {run} into the handover manifest"


def reprint(conn: Connection, row: LetterRow, reason: str, by: str) -> str:
    """The envelope was destroyed: spoiled and printed again with the same ids."""
    data = {"by": by, "reason": reason}
    _move(conn, row, Event.SPOIL, State.UNACCOUNTED, data=data)
    _move(conn, row, Event.REPRINT, State.SPOILED, data=data, extra=_cleared())
    enqueue(conn, "plan", row.submission_id)
    enqueue(conn, "receipts", row.submission_id)
    return f"PRINT_READY; printed again with tracking id {row.tracking_id}"


def lost(conn: Connection, row: LetterRow, reason: str, by: str) -> str:
    """Gone for good: FAILED with code LOST, its postage mark annulled."""
    data = {"by": by, "reason": reason}
    _move(
        conn,
        row,
        Event.WRITE_OFF,
        State.UNACCOUNTED,
        data=data,
        extra={"reason_code": LOST_CODE, "reason": f"lost: {reason}"},
    )
    if row.piece_id is not None:
        move_mark(
            conn,
            str(row.piece_id),
            MarkState.ON_HOLD,
            MarkState.ANNULLED,
            "annul",
            f"annulled: piece written off as lost by {by} ({reason})",
            now(),
        )
    enqueue(conn, "receipts", row.submission_id)
    return "FAILED (LOST); its postage mark annulled"


def _cleared() -> dict[str, Any]:
    """Columns of a letter leaving UNACCOUNTED for a state not final: no reason code, not final."""
    return {"reason_code": None, "reason": None, "final_at": None}


#: Resolution → what it does to one UNACCOUNTED letter (returns what happened).
RESOLUTIONS: dict[Resolution, Callable[[Connection, LetterRow, str, str], str]] = {
    Resolution.FOUND: found,
    Resolution.REPRINT: reprint,
    Resolution.LOST: lost,
}


def resolve(
    ledger: Ledger, resolution: Resolution, identifier: str, reason: str, by: str = OPERATOR
) -> Outcome:
    """End the UNACCOUNTED piece ``identifier`` (tracking or letter id) the ``resolution`` way, in one
    transaction by compare-and-set; the :class:`~plant.operator.Outcome` says what happened or why not."""
    reason = reason.strip()
    if not reason:
        return Outcome(identifier, False, "refused", "give a reason: it is recorded with your name")
    try:
        with ledger.tx() as conn:
            rows = [r for r in find_letters(conn, identifier) if r.submission_id != identifier]
            if not rows:
                return Outcome(identifier, False, "not found", "no letter or tracking id like this")
            if len(rows) > 1:
                subs = ", ".join(sorted({r.submission_id for r in rows}))
                return Outcome(
                    identifier,
                    False,
                    "ambiguous",
                    f"letter id used in submissions {subs}; give the tracking id instead",
                )
            (row,) = rows
            if row.state != State.UNACCOUNTED.value:
                return Outcome(
                    identifier,
                    False,
                    "refused",
                    f"{row.state}: not waiting for reconciliation (only UNACCOUNTED pieces are; "
                    "`plant reconcile list`)",
                )
            message = RESOLUTIONS[resolution](conn, row, reason, by)
    except Refused as exc:
        return Outcome(identifier, False, "refused", str(exc))
    return Outcome(identifier, True, DONE[resolution], message)
