"""Stage ``preflight(submission_id)``: check every received letter's PDF in the sandbox; reject what cannot be
printed, with a code, a reason in millimetres and, where geometric, an overlay PDF next to the receipts.

Chunked: one message checks at most ``[queue] chunk_letters`` letters. It first claims them (a
compare-and-set of ``preflight_ok`` from NULL to :data:`CLAIMED`, stamped with ``updated_at``; ``FOR UPDATE
SKIP LOCKED`` where the ledger has it, SQLite's single writer elsewhere), checks them outside any transaction,
then records their verdicts only where its claim still stands, and in the same transaction asks for itself
again while letters are left to check, or for routing and receipts when none are. A claim older than
:data:`CLAIM_LEASE_S` (its holder was stopped or died) is taken again. A re-sent message takes the letters
still waiting, never one being or already checked.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, func, insert, or_, select, update

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

#: ``preflight_ok`` of a letter claimed by a pre-flight message and being checked (1 passed, 0 rejected).
CLAIMED = -1
#: Seconds after which a claim is taken again: dramatiq's time limit (10 minutes) has stopped its message.
CLAIM_LEASE_S = 600.0


def _waiting(stamp: float) -> Any:
    """Letters a pre-flight message may take: never checked, or claimed by one stopped long ago."""
    letters = t.letters.c
    return or_(
        letters.preflight_ok.is_(None),
        (letters.preflight_ok == CLAIMED) & (letters.updated_at < stamp - CLAIM_LEASE_S),
    )


def _claim(conn: Connection, submission_id: str, limit: int, stamp: float) -> list[int]:
    """Claim the next ``limit`` waiting letters of the submission for this message (stamp ``stamp``)."""
    letters = t.letters.c
    mine = [letters.submission_id == submission_id, letters.state == State.RECEIVED.value, _waiting(stamp)]
    pks = (
        conn.execute(
            select(letters.pk)
            .where(*mine)
            .order_by(letters.pk)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if not pks:
        return []
    claimed = conn.execute(
        update(t.letters)
        .where(letters.pk.in_(pks), *mine)
        .values(preflight_ok=CLAIMED, updated_at=stamp)
        .returning(letters.pk)
    )
    return sorted(row.pk for row in claimed)


def _still_mine(conn: Connection, pks: list[int], claim: float) -> set[int]:
    """Of ``pks``, the letters whose claim stamped ``claim`` still stands (locked for this transaction)."""
    letters = t.letters.c
    rows = conn.execute(
        select(letters.pk)
        .where(
            letters.pk.in_(pks),
            letters.state == State.RECEIVED.value,
            letters.preflight_ok == CLAIMED,
            letters.updated_at == claim,
        )
        .with_for_update()
    )
    return set(rows.scalars())


def _next(conn: Connection, submission_id: str, stamp: float) -> None:
    """Ask for the next chunk while letters wait; for routing and receipts when none is left to check (a
    chunk still claimed by another message is that message's to finish)."""
    letters = t.letters.c
    of_submission = [letters.submission_id == submission_id, letters.state == State.RECEIVED.value]
    waiting = conn.execute(select(func.count()).where(*of_submission, _waiting(stamp))).scalar()
    if waiting:
        enqueue(conn, "preflight", submission_id)
        return
    if not conn.execute(select(func.count()).where(*of_submission, letters.preflight_ok == CLAIMED)).scalar():
        enqueue(conn, "route", submission_id)
        enqueue(conn, "receipts", submission_id)


def preflight(submission_id: str) -> None:
    """Pre-flight the next chunk of the submission's letters that are RECEIVED and not yet checked; then ask
    for the next chunk, or for routing when none is left."""
    plant = current()
    settings = plant.settings
    letters = t.letters.c
    claim = now()
    with plant.ledger.tx() as conn:
        pks = _claim(conn, submission_id, settings.queue.chunk_letters, claim)
    if not pks:
        return
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
            )
            .where(letters.pk.in_(pks))
            .order_by(letters.pk)
        ).all()
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
    with plant.ledger.tx() as conn:
        stamp = now()
        mine = _still_mine(conn, pks, claim)
        passed = [row for row in rows if row.pk in mine and verdicts[row.pk].ok]
        failed = [row for row in rows if row.pk in mine and not verdicts[row.pk].ok]
        if passed:
            conn.execute(
                update(t.letters)
                .where(letters.pk == bindparam("b_pk"))
                .values(preflight_ok=1, pages=bindparam("b_pages"), updated_at=stamp),
                [{"b_pk": row.pk, "b_pages": verdicts[row.pk].pages} for row in passed],
            )
            conn.execute(
                insert(t.events),
                [
                    {
                        "at": stamp,
                        "entity": "letter",
                        "entity_id": str(row.pk),
                        "event": "preflight_pass",
                        "data": {"pages": verdicts[row.pk].pages},
                    }
                    for row in passed
                ],
            )
        overlay = {row.pk: str(overlays[row.pk]) if overlays.get(row.pk) else None for row in failed}
        rejected = move_letters(
            conn,
            [row.pk for row in failed],
            Event.REJECT,
            State.RECEIVED,
            per_letter={
                row.pk: {"code": verdicts[row.pk].code, "overlay": overlay[row.pk]} for row in failed
            },
            extra={"preflight_ok": 0},
        )
        by_pk = {row.pk: row for row in failed}
        if rejected:
            conn.execute(
                update(t.letters)
                .where(letters.pk == bindparam("b_pk"))
                .values(
                    reason_code=bindparam("b_code"), reason=bindparam("b_reason"), pages=bindparam("b_pages")
                ),
                [
                    {
                        "b_pk": pk,
                        "b_code": verdicts[pk].code,
                        "b_reason": verdicts[pk].reason,
                        "b_pages": verdicts[pk].pages or None,
                    }
                    for pk in rejected
                ],
            )
            conn.execute(
                insert(ti.preflight_rejections),
                [
                    {
                        "letter_pk": pk,
                        "code": verdicts[pk].code,
                        "reason": verdicts[pk].reason,
                        "overlay_path": overlay[pk],
                        "checked_at": stamp,
                        "findings": [
                            {
                                "code": f.code,
                                "message": f.message,
                                "page": f.page,
                                "rect": f.rect,
                                "expected": f.expected,
                            }
                            for f in verdicts[pk].findings
                        ],
                    }
                    for pk in rejected
                ],
            )
            for pk in rejected:
                log.info(
                    "letter_rejected",
                    letter_id=by_pk[pk].letter_id,
                    code=verdicts[pk].code,
                    overlay=overlay[pk],
                )
        _next(conn, submission_id, stamp)
    log.info("preflighted", submission=submission_id, passed=len(passed), rejected=len(rejected))
    plant.notify()
