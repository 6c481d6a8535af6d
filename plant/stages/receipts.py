"""Stage ``receipts(submission_id)``: write the submission's receipt list (CSV and JSON), one row per letter.

Written whole from the ledger every time (atomically), so it always shows every letter's current status; when
every letter is final the submission is marked finished.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from sqlalchemy import select, update

from plant.intake.blobs import atomic_write
from plant.ledger import append_event, now
from plant.ledger import schema as t
from plant.model import FINAL_STATES, State
from plant.runtime import current

#: Columns of a receipt list.
RECEIPT_COLUMNS = ("letter_id", "status", "channel", "tracking_id", "received_at", "final_at", "reason")


def receipt_rows(conn, submission_id: str) -> list[dict]:
    """The receipt rows of a submission, in manifest order."""
    letters, pieces = t.letters.c, t.pieces.c
    rows = conn.execute(select(letters.letter_id, letters.state, letters.channel, pieces.tracking_id,
                               letters.received_at, letters.final_at, letters.reason)
                        .select_from(t.letters.outerjoin(t.pieces, pieces.letter_pk == letters.pk))
                        .where(letters.submission_id == submission_id).order_by(letters.pk)).all()
    return [{"letter_id": r.letter_id, "status": r.state, "channel": r.channel or "",
             "tracking_id": r.tracking_id or "", "received_at": _iso(r.received_at), "final_at": _iso(r.final_at),
             "reason": r.reason or ""} for r in rows]


def receipts(submission_id: str) -> None:
    """Write ``receipts/<submission>.csv`` and ``.json``; mark the submission finished when all are final."""
    plant = current()
    with plant.ledger.read() as conn:
        rows = receipt_rows(conn, submission_id)
    if not rows:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RECEIPT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    folder = plant.settings.receipts_dir
    atomic_write(folder / f"{submission_id}.csv", buffer.getvalue().encode())
    atomic_write(folder / f"{submission_id}.json",
                 json.dumps({"submission_id": submission_id, "letters": rows}, indent=1).encode())
    if all(State(r["status"]) in FINAL_STATES for r in rows):
        with plant.ledger.tx() as conn:
            done = conn.execute(update(t.submissions).where(t.submissions.c.submission_id == submission_id,
                                                            t.submissions.c.finished_at.is_(None))
                                .values(finished_at=now())).rowcount
            if done:
                append_event(conn, "submission", submission_id, "finish", data={"letters": len(rows)})


def _iso(stamp: float | None) -> str:
    return "" if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
