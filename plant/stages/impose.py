"""Stage ``impose(job_id)``: write the job's print-ready PDF with every sheet's codes, and its sheet map."""

from __future__ import annotations

from pathlib import Path

import structlog
from sqlalchemy import select

from imposition import PieceInput, impose_1up
from plant.intake.blobs import atomic_write, blob_path
from plant.ledger import enqueue, move_entity, move_letters
from plant.ledger import schema as t
from plant.model import Event, JobState, State
from plant.postage import issue_marks, signing_key
from plant.runtime import current

log = structlog.get_logger(__name__)


def job_pieces(conn, job_id: str):
    """The job's pieces in sheet order, with their letters' columns."""
    return conn.execute(
        select(t.job_pieces.c.seq, t.pieces.c.piece_id, t.pieces.c.tracking_id, t.pieces.c.sheets,
               t.pieces.c.prints, t.letters.c.pk, t.letters.c.letter_id, t.letters.c.state,
               t.letters.c.pdf_sha256, t.letters.c.submission_id)
        .select_from(t.job_pieces.join(t.pieces, t.pieces.c.piece_id == t.job_pieces.c.piece_id)
                     .join(t.letters, t.letters.c.pk == t.pieces.c.letter_pk))
        .where(t.job_pieces.c.job_id == job_id).order_by(t.job_pieces.c.seq)).all()


def load_job(conn, job_id: str):
    """The job's row."""
    return conn.execute(select(t.print_jobs).where(t.print_jobs.c.job_id == job_id)).first()


def impose(job_id: str) -> None:
    """Impose a PLANNED job; a job already imposed is left alone."""
    plant = current()
    with plant.ledger.read() as conn:
        job = load_job(conn, job_id)
        if job is None or job.state != JobState.PLANNED.value:
            return
        rows = [r for r in job_pieces(conn, job_id) if r.state == State.PLANNED.value]
    out = plant.settings.spool_dir / f"{job_id}.pdf"
    marks = _issue_postage(plant, rows)
    rows = [r for r in rows if str(r.piece_id) in marks]
    pieces = [PieceInput(piece_id=str(r.piece_id), pdf_path=blob_path(plant.settings.blobs_dir, r.pdf_sha256),
                         tracking_id=r.tracking_id, postage=marks[str(r.piece_id)]) for r in rows]
    sheet_map = impose_1up(pieces, out, job_id, layout=plant.settings.mark_layout())
    atomic_write(Path(f"{out}.map.json"), sheet_map.to_json().encode())
    with plant.ledger.tx() as conn:
        if move_entity(conn, t.print_jobs, t.print_jobs.c.job_id, job_id, JobState.PLANNED.value,
                       JobState.IMPOSED.value, "impose", "job", {"sheets": sheet_map.sheet_count},
                       pdf_path=str(out), sheets=sheet_map.sheet_count):
            move_letters(conn, [r.pk for r in rows], Event.IMPOSE, State.PLANNED, data={"job": job_id})
            enqueue(conn, "spool", job_id)
    log.info("job_imposed", job=job_id, sheets=sheet_map.sheet_count, pieces=len(rows))
    plant.notify()


def _issue_postage(plant, rows) -> dict[str, str]:
    """Issue the pieces' postage marks (on hold) before their print file exists; fail the pieces refused.

    A reprint gets the mark it already has. A piece heavier than the top weight band fails with the reason.
    """
    with plant.ledger.tx() as conn:
        issued = issue_marks(conn, plant.settings, [r.piece_id for r in rows], signing_key(plant.settings))
        for row in rows:
            reason = issued.refused.get(str(row.piece_id))
            if reason is not None:
                move_letters(conn, [row.pk], Event.FAIL, State.PLANNED,
                             extra={"reason_code": "POSTAGE_REFUSED", "reason": reason})
                log.warning("postage_refused", letter_id=row.letter_id, tracking_id=row.tracking_id, reason=reason)
                enqueue(conn, "receipts", row.submission_id)
    return issued.marks
