"""Stage ``receipts(submission_id)``: write the submission's receipt list (CSV and JSON), one row per letter.

Written whole from the ledger every time (atomically), so it always shows every letter's current status; when
every letter is final the submission is marked finished. The status is the letter's lifecycle state (the
vocabulary of :mod:`tracking.status`); ``code`` and ``reason`` say why a letter was rejected, kept for the sender
(``KEPT_FOR_SENDER``) or printed after all (``DIGITAL_FALLBACK``), and ``overlay`` is the path of the PDF that
marks a geometric rejection's offending areas in red (beside the receipt files).
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
from datetime import UTC, datetime

from sqlalchemy import select, update

from plant.intake.blobs import atomic_write
from plant.ledger import append_event, now
from plant.ledger import schema as t
from plant.ledger import schema_intake as ti
from plant.model import FINAL_STATES, State
from plant.runtime import current

#: Columns of a receipt list.
RECEIPT_COLUMNS = (
    "letter_id",
    "status",
    "channel",
    "tracking_id",
    "received_at",
    "final_at",
    "code",
    "reason",
    "overlay",
)


def receipt_rows(conn, submission_id: str) -> list[dict]:
    """The receipt rows of a submission, in manifest order."""
    letters, pieces, rejections = t.letters.c, t.pieces.c, ti.preflight_rejections.c
    rows = conn.execute(
        select(
            letters.letter_id,
            letters.state,
            letters.channel,
            pieces.tracking_id,
            letters.received_at,
            letters.final_at,
            letters.reason_code,
            letters.reason,
            rejections.overlay_path,
        )
        .select_from(
            t.letters.outerjoin(t.pieces, pieces.letter_pk == letters.pk).outerjoin(
                ti.preflight_rejections, rejections.letter_pk == letters.pk
            )
        )
        .where(letters.submission_id == submission_id)
        .order_by(letters.pk)
    ).all()
    return [
        {
            "letter_id": r.letter_id,
            "status": r.state,
            "channel": r.channel or "",
            "tracking_id": r.tracking_id or "",
            "received_at": _iso(r.received_at),
            "final_at": _iso(r.final_at),
            "code": r.reason_code or "",
            "reason": r.reason or "",
            "overlay": r.overlay_path or "",
        }
        for r in rows
    ]


def receipts(submission_id: str) -> None:
    """Write ``receipts/<submission>.csv`` and ``.json``; mark the submission finished when all are final."""
    plant = current()
    folder = plant.settings.receipts_dir
    folder.mkdir(parents=True, exist_ok=True)
    # Read and write under a per-submission file lock: two receipts messages racing (threads or workers) would
    # otherwise let the older snapshot land last. Under the lock the later writer always read the newer ledger.
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
    if all(State(r["status"]) in FINAL_STATES for r in rows):
        with plant.ledger.tx() as conn:
            done = conn.execute(
                update(t.submissions)
                .where(t.submissions.c.submission_id == submission_id, t.submissions.c.finished_at.is_(None))
                .values(finished_at=now())
            ).rowcount
            if done:
                append_event(conn, "submission", submission_id, "finish", data={"letters": len(rows)})


def _iso(stamp: float | None) -> str:
    return "" if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
