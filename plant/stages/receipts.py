"""Stage ``receipts(submission_id)``: write the submission's receipt list (CSV and JSON), one row per letter.

Written whole from the ledger every time (atomically), so it always shows every letter's current status; when
every letter is final the submission is marked finished (:func:`settle`: judged on the letters as they are
when that transaction commits, never on the snapshot the files came from). The status is the letter's
lifecycle state (the vocabulary of :mod:`tracking.status`); ``code`` and ``reason`` say why a letter was
rejected, kept for the sender (``KEPT_FOR_SENDER``) or printed after all (``DIGITAL_FALLBACK``), and
``overlay`` is the path of the PDF that marks a geometric rejection's offending areas in red (beside the
receipt files).
"""

from __future__ import annotations

import csv
import fcntl
import io
import json

import structlog
from sqlalchemy import func, select, update

from plant.errors import DiskFull
from plant.ledger import Ledger, append_event, enqueue, now
from plant.ledger import schema as t
from plant.ledger.reads import RECEIPT_COLUMNS, receipt_rows
from plant.model import FINAL_STATES
from plant.stages.context import Plant, current
from plant.storage.files import atomic_write, disk_full_over, retry_when_room

log = structlog.get_logger(__name__)


def receipts(submission_id: str) -> None:
    """Write ``receipts/<submission>.csv`` and ``.json``; mark the submission finished when all are final.

    A full disk leaves the submission open (each file is written whole or not at all) and writes them again
    after a back-off."""
    plant = current()
    try:
        _receipts(plant, submission_id)
    except DiskFull as exc:
        retry_when_room(
            exc,
            f"receipts {submission_id}",
            None
            if plant.sender is None
            else lambda delay: plant.send("receipts", submission_id, delay_ms=delay),
            submission=submission_id,
        )
        return
    disk_full_over(f"receipts {submission_id}")


def _receipts(plant: Plant, submission_id: str) -> None:
    folder = plant.settings.receipts_dir
    folder.mkdir(parents=True, exist_ok=True)
    # Read and write under a per-submission file lock: two receipts messages racing (threads or workers) would
    # otherwise let the older snapshot land last. Under the lock the later writer always read the newer
    # ledger.
    with open(folder / f".{submission_id}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with plant.ledger.read() as conn:
            rows = receipt_rows(conn, submission_id)
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=RECEIPT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(folder / f"{submission_id}.csv", buffer.getvalue().encode())
        atomic_write(
            folder / f"{submission_id}.json",
            json.dumps({"submission_id": submission_id, "letters": rows}, indent=1).encode(),
        )
    final = {s.value for s in FINAL_STATES}
    settle(plant.ledger, submission_id, written_final=all(r["status"] in final for r in rows))


def settle(ledger: Ledger, submission_id: str, written_final: bool = True) -> bool | None:
    """Mark the submission finished when every letter is final *now* and the receipt files just written
    showed every letter final (``written_final``), or re-open it when one is not; return True when it is
    finished, False when open, None when there is no such submission.

    Files written from a snapshot taken before the last letters became final (their own ``receipts``
    message may be lost with a Redis that died before saving it) would be left stale for ever by a finished
    submission: then the submission stays open and another ``receipts`` is queued in the same transaction
    (``receipts_stale``), which writes them again.

    One transaction that first locks the submission's row (``FOR UPDATE`` on PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` serialises writers), then counts the letters not final in a statement of its own, so
    it reads every letter as committed after the lock. A digital fallback that moves a letter back to print
    (:func:`plant.intake.digital.fall_back_due`) either committed before (its letter is counted: not
    finished) or re-opens the submission after this commits (it updates the same row, so it waits): a
    submission is never left finished with a letter that is not final. The snapshot the receipt files were
    written from is never trusted for this.
    """
    subs, letters = t.submissions.c, t.letters.c
    with ledger.tx() as conn:
        finished_at = conn.execute(
            select(subs.finished_at).where(subs.submission_id == submission_id).with_for_update()
        ).first()
        if finished_at is None:
            return None
        open_letters, total = conn.execute(
            select(
                func.count().filter(letters.state.not_in([s.value for s in FINAL_STATES])),
                func.count(),
            ).where(letters.submission_id == submission_id)
        ).one()
        if open_letters == 0 and finished_at[0] is None and not written_final:
            enqueue(conn, "receipts", submission_id)
            log.info("receipts_stale", submission=submission_id)
            return False
        if open_letters == 0 and finished_at[0] is None:
            conn.execute(
                update(t.submissions).where(subs.submission_id == submission_id).values(finished_at=now())
            )
            append_event(conn, "submission", submission_id, "finish", data={"letters": total})
        elif open_letters and finished_at[0] is not None:
            conn.execute(
                update(t.submissions).where(subs.submission_id == submission_id).values(finished_at=None)
            )
            append_event(
                conn,
                "submission",
                submission_id,
                "reopen",
                data={"reason": "LETTERS_NOT_FINAL", "letters": open_letters},
            )
            log.warning("submission_reopened", submission=submission_id, letters_not_final=open_letters)
        return open_letters == 0
