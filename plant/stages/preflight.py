"""Stage ``preflight(submission_id)``: check every received letter's PDF in the sandbox; reject what cannot be
printed, with a code, a reason in millimetres and, where geometric, an overlay PDF next to the receipts.

Idempotent: only letters still RECEIVED and unchecked are checked, and each outcome is a compare-and-set.
"""

from __future__ import annotations

import structlog
from sqlalchemy import insert, select, update

from plant.intake.overlay import write_overlay
from plant.intake.preflight import address_lines, preflight_letters
from plant.ledger import enqueue, move_letters, now
from plant.ledger import schema as t
from plant.ledger import schema_intake as ti
from plant.model import Event, State
from plant.stages.context import current
from plant.storage.files import blob_path
from plant.storage.paths import overlay_dir

log = structlog.get_logger(__name__)


def preflight(submission_id: str) -> None:
    """Pre-flight the submission's letters that are RECEIVED and not yet checked; then ask for routing."""
    plant = current()
    letters = t.letters.c
    with plant.ledger.read() as conn:
        rows = conn.execute(
            select(
                letters.pk,
                letters.letter_id,
                letters.pdf_sha256,
                letters.name,
                letters.address_1,
                letters.address_2,
                letters.postcode,
                letters.city,
                letters.duplex,
            ).where(
                letters.submission_id == submission_id,
                letters.state == State.RECEIVED.value,
                letters.preflight_ok.is_(None),
            )
        ).all()
    settings = plant.settings
    verdicts = preflight_letters(
        settings,
        [
            (
                row.pk,
                blob_path(settings.blobs_dir, row.pdf_sha256),
                address_lines(row.name, row.address_1, row.address_2, row.postcode, row.city),
            )
            for row in rows
        ],
        duplex={row.pk for row in rows if row.duplex},
    )
    overlays = {}
    for row in rows:
        verdict = verdicts[row.pk]
        if not verdict.ok and verdict.pictures:
            path = overlay_dir(settings, submission_id) / f"{row.letter_id}.pdf"
            overlays[row.pk] = write_overlay(path, row.letter_id, verdict)
    stamp = now()
    with plant.ledger.tx() as conn:
        passed = [row for row in rows if verdicts[row.pk].ok]
        for row in passed:
            done = conn.execute(
                update(t.letters)
                .where(
                    letters.pk == row.pk,
                    letters.state == State.RECEIVED.value,
                    letters.preflight_ok.is_(None),
                )
                .values(preflight_ok=1, pages=verdicts[row.pk].pages, updated_at=stamp)
            ).rowcount
            if done:
                conn.execute(
                    insert(t.events).values(
                        at=stamp,
                        entity="letter",
                        entity_id=str(row.pk),
                        event="preflight_pass",
                        data={"pages": verdicts[row.pk].pages},
                    )
                )
        for row in rows:
            verdict = verdicts[row.pk]
            if verdict.ok:
                continue
            overlay = str(overlays[row.pk]) if overlays.get(row.pk) else None
            moved = move_letters(
                conn,
                [row.pk],
                Event.REJECT,
                State.RECEIVED,
                data={"code": verdict.code, "overlay": overlay},
                extra={
                    "reason_code": verdict.code,
                    "reason": verdict.reason,
                    "preflight_ok": 0,
                    "pages": verdict.pages or None,
                },
            )
            if moved:
                conn.execute(
                    insert(ti.preflight_rejections).values(
                        letter_pk=row.pk,
                        code=verdict.code,
                        reason=verdict.reason,
                        overlay_path=overlay,
                        checked_at=stamp,
                        findings=[
                            {
                                "code": f.code,
                                "message": f.message,
                                "page": f.page,
                                "rect": f.rect,
                                "expected": f.expected,
                            }
                            for f in verdict.findings
                        ],
                    )
                )
                log.info("letter_rejected", letter_id=row.letter_id, code=verdict.code, overlay=overlay)
        enqueue(conn, "route", submission_id)
        enqueue(conn, "receipts", submission_id)
    plant.notify()
