"""Stage ``plan(submission_id)``: group print-ready pieces into print jobs and give each a printer.

Foundation planner: jobs of at most ``job_max_pieces`` pieces in submission order, each to the printer whose
queued sheets would finish first. The scheduling issue replaces the choice with the real planner; the stage
keeps its shape (pieces move PRINT_READY → PLANNED by compare-and-set, so a duplicate message plans nothing).
"""

from __future__ import annotations

import structlog
from sqlalchemy import func, insert, select, update

from plant.ledger import append_event, enqueue, move_letters, now
from plant.ledger import schema as t
from plant.model import Event, JobState, State, job_name
from plant.runtime import current

log = structlog.get_logger(__name__)


def plan(submission_id: str) -> None:
    """Plan the submission's PRINT_READY pieces into jobs."""
    plant = current()
    letters, pieces = t.letters.c, t.pieces.c
    with plant.ledger.tx() as conn:
        rows = conn.execute(select(letters.pk, pieces.piece_id, pieces.sheets)
                            .select_from(t.letters.join(t.pieces, pieces.letter_pk == letters.pk))
                            .where(letters.submission_id == submission_id, letters.state == State.PRINT_READY.value)
                            .order_by(letters.pk)).all()
        load = _printer_load(conn, plant.settings.printers)
        size = plant.settings.job_max_pieces
        for start in range(0, len(rows), size):
            group = rows[start:start + size]
            moved = set(move_letters(conn, [r.pk for r in group], Event.PLAN, State.PRINT_READY))
            group = [r for r in group if r.pk in moved]
            if not group:
                continue
            sheets = sum(r.sheets for r in group)
            printer = min(plant.settings.printers, key=lambda p: (load[p.name] + sheets) / p.sheets_per_minute)
            load[printer.name] += sheets
            stamp = now()
            number = conn.execute(insert(t.print_jobs).values(
                submission_id=submission_id, printer=printer.name, state=JobState.PLANNED.value, sheets=sheets,
                pieces=len(group), created_at=stamp, updated_at=stamp).returning(t.print_jobs.c.number)).scalar_one()
            job_id = job_name(number)
            conn.execute(update(t.print_jobs).where(t.print_jobs.c.number == number).values(job_id=job_id))
            conn.execute(insert(t.job_pieces), [{"job_id": job_id, "seq": i, "piece_id": r.piece_id}
                                                for i, r in enumerate(group)])
            conn.execute(update(t.pieces).where(pieces.piece_id.in_([r.piece_id for r in group]))
                         .values(job_id=job_id, run_id=None))
            append_event(conn, "job", job_id, "plan", None, JobState.PLANNED.value,
                         {"printer": printer.name, "pieces": len(group), "sheets": sheets})
            enqueue(conn, "impose", job_id)
            log.info("job_planned", job=job_id, printer=printer.name, pieces=len(group), sheets=sheets)
    plant.notify()


def _printer_load(conn, printers) -> dict[str, int]:
    """Sheets already planned, imposed or spooled per printer."""
    load = {p.name: 0 for p in printers}
    busy = [JobState.PLANNED.value, JobState.IMPOSED.value, JobState.SPOOLED.value]
    for name, sheets in conn.execute(select(t.print_jobs.c.printer, func.sum(t.print_jobs.c.sheets))
                                     .where(t.print_jobs.c.state.in_(busy)).group_by(t.print_jobs.c.printer)):
        if name in load:
            load[name] = int(sheets or 0)
    return load
