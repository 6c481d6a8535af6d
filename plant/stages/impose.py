"""Stage ``impose(job_id)``: write the job's print-ready PDF with every sheet's codes, and its sheet map.

The layout is the job's printer's (``[[printers]] layout, sheet, stack_depth``): 1-up on A4, 2-up cut and
stack on A3 or SRA3, or 2-up on a 520 mm web. Whether it is duplex is the job's (its letters',
``print_jobs.duplex``): a duplex job is imposed two pages a leaf with the press's turn or tumble, a simplex
job one page a leaf with blank backs left unprinted, whatever the press could do. A duplex job whose press no
longer prints duplex (plant.toml changed since it was planned) is released for re-planning, never printed
one-sided. N-up jobs also get their cut spec (:mod:`plant.stages.cut`), so the inserter line's cutter can undo
the cut-and-stack order.

No letter stalls another. When imposition (or marking a piece) fails, the stage finds the letter at fault —
the one the library's error names (``ImpositionError.piece_id``), else each piece imposed alone into a
scratch file — and ends that letter alone: REJECTED with the imposition's code when the sender's PDF is at
fault (``senders_fault``), FAILED with the reason when the plant is (its stored copy no longer the one
pre-flight checked, a mark that cannot be made). Its job is released (REPLANNED) and the others are planned
again into a new job with their pieces and tracking ids. An error of no one letter's making (every piece
imposes alone, or every one fails alike for a fault of the plant's) is the job's: tried again
``[queue] job_attempts`` times in all (the ``[queue]`` back-off between), then the job is FAILED with the
cause and its letters HELD for an operator (:func:`plant.ledger.jobs.fail_job`). The stage never raises for
an imposition error, so the queue never retries it blindly.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Row, func, select

from imposition import (
    Duplex,
    EmptyPdf,
    EncryptedPdf,
    ImpositionError,
    Layout,
    Marks,
    PageCountMismatch,
    PageDoesNotFit,
    PieceInput,
    UnreadablePdf,
    WrongPageSize,
)
from imposition import impose as impose_pieces
from plant.config import Settings
from plant.errors import DiskFull
from plant.fleet.cutting import write_cut_spec
from plant.ledger import append_event, enqueue, move_entity, move_letters, now
from plant.ledger import schema as t
from plant.ledger.jobs import fail_job, job_pieces, load_job, release_job
from plant.model import Event, JobState, State
from plant.postage.marks import MarkState, issue_marks, move_mark, signing_key
from plant.stages.context import Plant, current
from plant.storage.files import atomic_write, blob_path, disk_full_over, is_disk_full, retry_when_room

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
            pages=r.pages,
        )
        for r in rows
    ]
    layout = job_layout(plant.settings, job.printer, duplex=bool(job.duplex))
    codes = Marks(geometry=plant.settings.mark_layout())
    try:
        sheet_map = impose_pieces(pieces, out, job_id, layout, codes)
    except Exception as exc:  # any error of one letter must not stall the others; never retried blindly
        if is_disk_full(exc):  # the plant's disk, not a letter's fault: the same job again when there is room
            _wait_for_room(plant, job_id, out, pieces, exc)
        else:
            _failed(plant, job, rows, pieces, layout, codes, exc)
        return
    try:
        atomic_write(Path(f"{out}.map.json"), sheet_map.to_json().encode())
        write_cut_spec(out, layout, sheet_map)
    except DiskFull as exc:
        _wait_for_room(plant, job_id, out, pieces, exc)
        return
    disk_full_over(f"impose {job_id}")
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


def _wait_for_room(
    plant: Plant, job_id: str, out: Path, pieces: Sequence[PieceInput], exc: BaseException
) -> None:
    """Imposing ``job_id`` found no room for its files: each was written whole or not at all (a job file
    without its sheet map is never used: the job stays PLANNED, and the next try writes both again), so the
    job is only imposed again after a back-off."""
    if not isinstance(exc, DiskFull):  # the press file itself: it needs about its letters' pages
        exc = DiskFull(out, sum(_size(p.pdf_path) for p in pieces))
    retry_when_room(
        exc,
        f"impose {job_id}",
        None if plant.sender is None else lambda delay: plant.send("impose", job_id, delay_ms=delay),
        job=job_id,
    )


def _size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


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


# -- when imposition fails -----------------------------------------------------------------------------------
#: The job event recording one failed attempt (``data``: attempt, code, cause).
IMPOSE_ERROR_EVENT = "impose_error"
#: Receipt code of a letter whose stored PDF is no longer the one pre-flight checked (the plant's fault).
STORED_COPY_DAMAGED = "STORED_COPY_DAMAGED"
#: Receipt code of a letter imposition failed on with an error that carries no code of its own.
IMPOSE_ERROR = "IMPOSE_ERROR"
#: The imposition errors that are the sender's PDF's fault, for a library without ``senders_fault``.
_SENDERS_FAULT = (UnreadablePdf, EncryptedPdf, EmptyPdf, PageCountMismatch, WrongPageSize, PageDoesNotFit)


@dataclass(frozen=True)
class Verdict:
    """What ends one letter: REJECTED (the sender's fault) or FAILED (the plant's), with code and reason."""

    pk: int
    letter_id: str
    tracking_id: str
    piece_id: str
    rejected: bool
    code: str
    reason: str


def error_code(exc: BaseException) -> str:
    """The stable code of an imposition error (``ImpositionError.code``), else one made of its class name."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    if isinstance(exc, ImpositionError):
        name = type(exc).__name__
        return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()
    return IMPOSE_ERROR


def senders_fault(exc: BaseException) -> bool:
    """Whether the sender's input is at fault (``ImpositionError.senders_fault``); an unexpected error is the
    plant's."""
    if not isinstance(exc, ImpositionError):
        return False
    fault = getattr(exc, "senders_fault", None)
    return bool(fault) if fault is not None else isinstance(exc, _SENDERS_FAULT)


def find_culprits(
    pieces: Sequence[PieceInput], job_id: str, layout: Layout, codes: Marks
) -> dict[str, Exception]:
    """Impose each piece alone into a scratch file (the failure path only); the pieces that fail, each with
    its error, by piece id."""
    failed: dict[str, Exception] = {}
    with tempfile.TemporaryDirectory(prefix=f"impose-{job_id}-") as scratch:
        out = Path(scratch) / "alone.pdf"
        for piece in pieces:
            try:
                impose_pieces([piece], out, job_id, layout, codes)
            except Exception as exc:  # the culprit search: whatever fails alone is the piece's
                failed[piece.piece_id] = exc
    return failed


def stored_copy_intact(path: Path, sha256: str) -> bool:
    """Whether the blob at ``path`` still holds the bytes pre-flight checked (its name is their SHA-256)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return False
    return digest.hexdigest() == sha256


def _failed(
    plant: Plant,
    job: Row[Any],
    rows: Sequence[Row[Any]],
    pieces: Sequence[PieceInput],
    layout: Layout,
    codes: Marks,
    exc: Exception,
) -> None:
    """Imposition of ``job`` raised ``exc``: end the letters at fault and plan the others again, or count a
    failed attempt of the job."""
    by_piece = {p.piece_id: (p, r) for p, r in zip(pieces, rows, strict=True)}
    named = getattr(exc, "piece_id", None)
    if named in by_piece and senders_fault(exc):
        culprits: dict[str, Exception] = {str(named): exc}
    else:  # no piece named, or a fault of the plant's: is it one letter's, or every letter's?
        culprits = find_culprits(pieces, job.job_id, layout, codes)
    verdicts = []
    for piece_id, error in culprits.items():
        piece, row = by_piece[piece_id]
        if not stored_copy_intact(piece.pdf_path, row.pdf_sha256):
            reason = (
                f"the plant's stored copy of the letter's PDF ({piece.pdf_path}) is no longer the file "
                f"pre-flight checked (SHA-256 {row.pdf_sha256}); restore the blobs folder from a backup "
                "and resubmit the letter"
            )
            verdicts.append(_verdict(row, piece_id, False, STORED_COPY_DAMAGED, reason))
        elif senders_fault(error):
            verdicts.append(_verdict(row, piece_id, True, error_code(error), _text(error, piece, row)))
        elif len(culprits) < len(pieces):  # the others impose: it is this letter's, though not its sender's
            reason = f"imposition failed on this letter alone: {_text(error, piece, row)}"
            verdicts.append(_verdict(row, piece_id, False, error_code(error), reason))
    if verdicts:
        _end_letters(plant, job, verdicts)
    else:
        _job_error(plant, job, exc if not culprits else next(iter(culprits.values())))


def _text(exc: BaseException, piece: PieceInput, row: Row[Any]) -> str:
    """The error's message for a receipt: the blob's path replaced by the letter's name."""
    text = str(exc) if isinstance(exc, ImpositionError) else f"{type(exc).__name__}: {exc}"
    name = f"the PDF of letter {row.letter_id}"
    return text.replace(str(piece.pdf_path), name).replace(piece.pdf_path.name, name)


def _verdict(row: Row[Any], piece_id: str, rejected: bool, code: str, reason: str) -> Verdict:
    return Verdict(row.pk, row.letter_id, row.tracking_id, piece_id, rejected, code, reason)


def _end_letters(plant: Plant, job: Row[Any], verdicts: Sequence[Verdict]) -> None:
    """Reject or fail each letter of ``verdicts``, annul its postage mark, and release the job: the others
    are planned again (same pieces, same tracking ids). One transaction; nothing when the job moved
    meanwhile."""
    names = ", ".join(v.letter_id for v in verdicts)
    with plant.ledger.tx() as conn:
        if release_job(conn, job.job_id, f"taken out: {names}", keep=[v.pk for v in verdicts]) is None:
            return
        for v in verdicts:
            event = Event.REJECT if v.rejected else Event.FAIL
            if move_letters(
                conn,
                [v.pk],
                event,
                State.PLANNED,
                data={"job": job.job_id, "code": v.code, "reason": v.reason},
                extra={"reason_code": v.code, "reason": v.reason},
            ):
                move_mark(
                    conn,
                    v.piece_id,
                    MarkState.ON_HOLD,
                    MarkState.ANNULLED,
                    "annul",
                    f"annulled: letter {'rejected' if v.rejected else 'failed'} at imposition ({v.code})",
                    now(),
                )
        enqueue(conn, "receipts", job.submission_id)
    for v in verdicts:
        log.warning(
            "letter_rejected_at_impose" if v.rejected else "letter_failed_at_impose",
            job=job.job_id,
            letter_id=v.letter_id,
            tracking_id=v.tracking_id,
            code=v.code,
            reason=v.reason,
        )
    plant.notify()


def _job_error(plant: Plant, job: Row[Any], exc: BaseException) -> None:
    """An error of no one letter's making: impose the job again after the ``[queue]`` back-off, or, after
    ``[queue] job_attempts`` attempts, fail it and hold its letters for an operator."""
    code = error_code(exc)
    cause = str(exc) if isinstance(exc, ImpositionError) else f"{type(exc).__name__}: {exc}"
    queue = plant.settings.queue
    with plant.ledger.tx() as conn:
        now_job = load_job(conn, job.job_id)
        if now_job is None or now_job.state != JobState.PLANNED.value:
            return
        events = t.events.c
        attempt = (
            1
            + conn.execute(
                select(func.count()).where(
                    events.entity == "job", events.entity_id == job.job_id, events.event == IMPOSE_ERROR_EVENT
                )
            ).scalar_one()
        )
        append_event(
            conn,
            "job",
            job.job_id,
            IMPOSE_ERROR_EVENT,
            JobState.PLANNED.value,
            JobState.PLANNED.value,
            {"attempt": attempt, "of": queue.job_attempts, "code": code, "cause": cause},
        )
        if attempt < queue.job_attempts:
            wait_s = min(queue.max_backoff_s, queue.min_backoff_s * 2 ** (attempt - 1))
            enqueue(conn, "impose", job.job_id, delay_ms=round(wait_s * 1000))
        else:
            fail_job(conn, job.job_id, code, cause, attempt)
    log.warning(
        "job_impose_error", job=job.job_id, attempt=attempt, of=queue.job_attempts, code=code, cause=cause
    )
    plant.notify()
