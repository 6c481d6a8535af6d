"""Stage ``preflight(submission_id)``: check every received letter's PDF; reject what cannot be printed."""

from __future__ import annotations

import structlog
from sqlalchemy import insert, select, update

from plant.intake.blobs import blob_path
from plant.intake.preflight import check_pdf
from plant.ledger import enqueue, move_letters, now
from plant.ledger import schema as t
from plant.model import Event, State
from plant.runtime import current

log = structlog.get_logger(__name__)


def preflight(submission_id: str) -> None:
    """Pre-flight the submission's letters that are RECEIVED and not yet checked; then ask for routing."""
    plant = current()
    letters = t.letters.c
    with plant.ledger.read() as conn:
        rows = conn.execute(select(letters.pk, letters.letter_id, letters.pdf_sha256).where(
            letters.submission_id == submission_id, letters.state == State.RECEIVED.value,
            letters.preflight_ok.is_(None))).all()
    max_pages = max(i.max_sheets for i in plant.settings.inserters)
    verdicts = {row.pk: (row, check_pdf(blob_path(plant.settings.blobs_dir, row.pdf_sha256), max_pages))
                for row in rows}
    stamp = now()
    with plant.ledger.tx() as conn:
        for pk, (row, verdict) in verdicts.items():
            if verdict.ok:
                done = conn.execute(update(t.letters).where(letters.pk == pk, letters.state == State.RECEIVED.value,
                                                            letters.preflight_ok.is_(None))
                                    .values(preflight_ok=1, pages=verdict.pages, updated_at=stamp)).rowcount
                if done:
                    conn.execute(insert(t.events).values(at=stamp, entity="letter", entity_id=str(pk),
                                                         event="preflight_pass", data={"pages": verdict.pages}))
            else:
                move_letters(conn, [pk], Event.REJECT, State.RECEIVED, data={"code": verdict.code},
                             extra={"reason_code": verdict.code, "reason": verdict.reason, "preflight_ok": 0})
                log.info("letter_rejected", letter_id=row.letter_id, code=verdict.code, reason=verdict.reason)
        enqueue(conn, "route", submission_id)
        enqueue(conn, "receipts", submission_id)
    plant.notify()
