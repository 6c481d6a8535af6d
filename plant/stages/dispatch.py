"""Stage ``dispatch(run_id)``: close a run's inserted pieces into the handover manifests and mark them
DISPATCHED.

One manifest per day and mail class. Its rows live in the ledger (sequence numbers taken in the same
transaction as the DISPATCHED state), and the CSV file is written from them afterwards, atomically, so a crash
between the two is repaired by writing the file again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime

import structlog
from sqlalchemy import func, insert, select

from plant.ledger import enqueue, move_letters, now
from plant.ledger import schema as t
from plant.model import Event, State
from plant.stages.context import Plant, current
from plant.storage.files import atomic_write

log = structlog.get_logger(__name__)

#: Columns of a handover manifest.
MANIFEST_COLUMNS = ("sequence", "tracking_id", "recipient", "postcode", "sheets", "weight_g")


def manifest_key(at: float, mail_class: str) -> str:
    """The manifest a piece dispatched at ``at`` in ``mail_class`` belongs to: ``YYYY-MM-DD-<class>``."""
    return f"{datetime.fromtimestamp(at, UTC).date().isoformat()}-{mail_class}"


def dispatch(run_id: str) -> None:
    """Dispatch the run's INSERTED pieces."""
    plant = current()
    letters, pieces = t.letters.c, t.pieces.c
    touched: set[str] = set()
    submissions: set[str] = set()
    with plant.ledger.tx() as conn:
        rows = conn.execute(
            select(
                letters.pk,
                letters.submission_id,
                letters.name,
                letters.postcode,
                letters.mail_class,
                letters.state,
                pieces.piece_id,
                pieces.tracking_id,
                pieces.sheets,
                pieces.mass_g,
            )
            .select_from(t.pieces.join(t.letters, letters.pk == pieces.letter_pk))
            .where(pieces.run_id == run_id)
            .order_by(pieces.piece_id)
        ).all()
        pending = [r for r in rows if r.state == State.INSERTED.value]
        moved = set(
            move_letters(conn, [r.pk for r in pending], Event.DISPATCH, State.INSERTED, data={"run": run_id})
        )
        stamp = now()
        for row in (r for r in pending if r.pk in moved):
            key = manifest_key(stamp, row.mail_class)
            seq = (
                conn.execute(
                    select(func.max(t.manifest_items.c.seq)).where(t.manifest_items.c.manifest == key)
                ).scalar()
                or 0
            ) + 1
            conn.execute(
                insert(t.manifest_items).values(
                    manifest=key,
                    seq=seq,
                    piece_id=row.piece_id,
                    tracking_id=row.tracking_id,
                    recipient=row.name,
                    postcode=row.postcode,
                    sheets=row.sheets,
                    mass_g=row.mass_g,
                )
            )
            touched.add(key)
            submissions.add(row.submission_id)
        if not moved:  # already dispatched: make sure the files reflect the ledger
            touched = set(
                conn.execute(
                    select(t.manifest_items.c.manifest).where(
                        t.manifest_items.c.piece_id.in_([r.piece_id for r in rows])
                    )
                ).scalars()
            )
        for submission in submissions:
            enqueue(conn, "receipts", submission)
    write_manifests(plant, touched)
    if moved:
        log.info("run_dispatched", run=run_id, pieces=len(moved), manifests=sorted(touched))
    plant.notify()


def write_manifests(plant: Plant, keys: Iterable[str]) -> None:
    """Write each manifest CSV in ``keys`` from the ledger, atomically."""
    for key in sorted(keys):
        with plant.ledger.read() as conn:
            items = conn.execute(
                select(t.manifest_items)
                .where(t.manifest_items.c.manifest == key)
                .order_by(t.manifest_items.c.seq)
            ).all()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        for item in items:
            writer.writerow(
                [item.seq, item.tracking_id, item.recipient, item.postcode, item.sheets, f"{item.mass_g:.1f}"]
            )
        atomic_write(plant.settings.manifests_dir / f"{key}.csv", buffer.getvalue().encode())
