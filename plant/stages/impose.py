"""Stage ``impose(job_id)``: write the job's print-ready PDF with every sheet's codes, and its sheet map.

The layout is the job's printer's (``[[printers]] layout, sheet, stack_depth``): 1-up on A4, 2-up cut and
stack on A3 or SRA3, or 2-up on a 520 mm web. Whether it is duplex is the job's (its letters',
``print_jobs.duplex``): a duplex job is imposed two pages a leaf with the press's turn or tumble, a simplex
job one page a leaf with blank backs left unprinted, whatever the press could do. A duplex job whose press no
longer prints duplex (plant.toml changed since it was planned) is released for re-planning, never printed
one-sided. N-up jobs also get their cut spec (:mod:`plant.stages.cut`), so the inserter line's cutter can undo
the cut-and-stack order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Row

from imposition import Duplex, Layout, Marks, PieceInput
from imposition import impose as impose_pieces
from plant.config import Settings
from plant.fleet.cutting import write_cut_spec
from plant.ledger import enqueue, move_entity, move_letters
from plant.ledger import schema as t
from plant.ledger.jobs import job_pieces, load_job
from plant.model import Event, JobState, State
from plant.postage.marks import issue_marks, signing_key
from plant.stages.context import Plant, current
from plant.storage.files import atomic_write, blob_path

log = structlog.get_logger(__name__)


def impose(job_id: str) -> None:
    """Impose a PLANNED job; a job already imposed is left alone."""
    plant = current()
    with plant.ledger.read() as conn:
        job = load_job(conn, job_id)
        if job is None or job.state != JobState.PLANNED.value:
            return
        rows = [r for r in job_pieces(conn, job_id) if r.state == State.PLANNED.value]
    if job.duplex and not _prints_duplex(plant.settings, job.printer):
        _release(plant, job)
        return
    out = plant.settings.spool_dir / f"{job_id}.pdf"
    marks = _issue_postage(plant, rows)
    rows = [r for r in rows if str(r.piece_id) in marks]
    pieces = [
        PieceInput(
            piece_id=str(r.piece_id),
            pdf_path=blob_path(plant.settings.blobs_dir, r.pdf_sha256),
            tracking_id=r.tracking_id,
            postage=marks[str(r.piece_id)],
        )
        for r in rows
    ]
    layout = job_layout(plant.settings, job.printer, duplex=bool(job.duplex))
    sheet_map = impose_pieces(pieces, out, job_id, layout, Marks(geometry=plant.settings.mark_layout()))
    atomic_write(Path(f"{out}.map.json"), sheet_map.to_json().encode())
    write_cut_spec(out, layout, sheet_map)
    with plant.ledger.tx() as conn:
        if move_entity(
            conn,
            t.print_jobs,
            t.print_jobs.c.job_id,
            job_id,
            JobState.PLANNED.value,
            JobState.IMPOSED.value,
            "impose",
            "job",
            {"sheets": sheet_map.sheet_count},
            pdf_path=str(out),
            sheets=sheet_map.sheet_count,
        ):
            move_letters(conn, [r.pk for r in rows], Event.IMPOSE, State.PLANNED, data={"job": job_id})
            enqueue(conn, "spool", job_id)
    log.info(
        "job_imposed",
        job=job_id,
        sheets=sheet_map.sheet_count,
        pieces=len(rows),
        layout=layout.scheme.value,
        sheet=layout.sheet.value,
        duplex=layout.duplex.value,
    )
    plant.notify()


def job_layout(settings: Settings, printer_name: str, duplex: bool = False) -> Layout:
    """The layout of a job on ``printer_name``: the press's scheme, sheet and stack depth; duplex with the
    press's turn or tumble when the job is ``duplex`` (and the press prints duplex), else simplex. 1-up
    simplex A4 for a printer the fleet no longer has."""
    printer = settings.printer(printer_name)
    if printer is None:
        return Layout()
    layout = settings.imposition_layout(printer)
    return layout if duplex else replace(layout, duplex=Duplex.NONE)


def _prints_duplex(settings: Settings, printer_name: str) -> bool:
    printer = settings.printer(printer_name)
    return printer is not None and printer.can_duplex


def _release(plant: Plant, job: Row[Any]) -> None:
    """Give a duplex job its press can no longer print back to the planner (a duplex press, or the manual
    path)."""
    from plant.ledger.jobs import release_job

    reason = (
        f"{job.printer} does not print duplex (its [[printers]] duplex is simplex, or it left the fleet); "
        "the duplex job is planned again"
    )
    with plant.ledger.tx() as conn:
        release_job(conn, job.job_id, reason)
    log.warning("duplex_job_released", job=job.job_id, printer=job.printer, reason=reason)
    plant.notify()


#: The JobTicket ``media`` of each press sheet (CUPS takes the size names; the web as a custom size).
MEDIA = {"A4": "A4", "A3": "A3", "SRA3": "SRA3", "WEB520": "Custom.520x297mm"}


def ticket_options(settings: Settings, printer_name: str, duplex: bool = False) -> dict[str, str]:
    """The ``media`` and ``sides`` a job on ``printer_name`` is printed with: the printer's sheet, and the
    sides of the job — one-sided for a simplex job on any press; for a ``duplex`` job the press's configured
    ``sides`` (default two-sided-long-edge for turn, -short-edge for tumble), as :func:`job_layout` imposed
    it."""
    printer = settings.printer(printer_name)
    if printer is None:
        return {}
    mode = printer.duplex.value
    sides = (
        "one-sided"
        if not duplex or mode == "simplex"
        else printer.sides or ("two-sided-long-edge" if mode == "turn" else "two-sided-short-edge")
    )
    return {"media": MEDIA[printer.sheet_name.value], "sides": sides}


def _issue_postage(plant: Plant, rows: Sequence[Row[Any]]) -> dict[str, str]:
    """Issue the pieces' postage marks (on hold) before their print file exists; fail the pieces refused.

    A reprint gets the mark it already has. A piece heavier than the top weight band fails with the reason.
    """
    with plant.ledger.tx() as conn:
        issued = issue_marks(conn, plant.settings, [r.piece_id for r in rows], signing_key(plant.settings))
        for row in rows:
            reason = issued.refused.get(str(row.piece_id))
            if reason is not None:
                move_letters(
                    conn,
                    [row.pk],
                    Event.FAIL,
                    State.PLANNED,
                    extra={"reason_code": "POSTAGE_REFUSED", "reason": reason},
                )
                log.warning(
                    "postage_refused", letter_id=row.letter_id, tracking_id=row.tracking_id, reason=reason
                )
                enqueue(conn, "receipts", row.submission_id)
    return issued.marks
