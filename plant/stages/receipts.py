"""Stage ``receipts(submission_id)``: write the submission's receipt list (CSV and JSON), one row per letter.

Written whole from the ledger every time (atomically), so it always shows every letter's current status; when
every letter is final the submission is marked finished. The status is the letter's lifecycle state (the
vocabulary of :mod:`tracking.status`); ``code`` and ``reason`` say why a letter was rejected, kept for the
sender (``KEPT_FOR_SENDER``) or printed after all (``DIGITAL_FALLBACK``), and ``overlay`` is the path of the
PDF that marks a geometric rejection's offending areas in red (beside the receipt files).
"""

from __future__ import annotations

import csv
import fcntl
import io
import json

from sqlalchemy import update

from plant.ledger import append_event, now
from plant.ledger import schema as t
from plant.ledger.reads import RECEIPT_COLUMNS, receipt_rows
from plant.model import FINAL_STATES, State
from plant.stages.context import current
from plant.storage.files import atomic_write


def receipts(submission_id: str) -> None:
    """Write ``receipts/<submission>.csv`` and ``.json``; mark the submission finished when all are final."""
    plant = current()
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
    if all(State(r["status"]) in FINAL_STATES for r in rows):
        with plant.ledger.tx() as conn:
            done = conn.execute(
                update(t.submissions)
                .where(t.submissions.c.submission_id == submission_id, t.submissions.c.finished_at.is_(None))
                .values(finished_at=now())
            ).rowcount
            if done:
                append_event(conn, "submission", submission_id, "finish", data={"letters": len(rows)})
