"""Stage ``route(submission_id)``: consented recipients get the letter digitally, everyone else on paper.

The decision (registry version, time, answer, the rule that matched) is recorded with every letter's event.
Print letters get their piece: a tracking id from the configured range, sheet count and mass.
"""

from __future__ import annotations

import json
import shutil

import structlog
from sqlalchemy import insert, select

from plant.idalloc import allocate
from plant.intake.blobs import atomic_write, blob_path
from plant.intake.consent import lookup, newest_version
from plant.ledger import enqueue, move_letters, now
from plant.ledger import schema as t
from plant.model import Channel, Event, State
from plant.runtime import current

log = structlog.get_logger(__name__)

#: A4 sheet area in m², for the mass of a piece.
A4_AREA_M2 = 0.210 * 0.297


def route(submission_id: str) -> None:
    """Route the submission's pre-flighted letters; ask for planning when any went to print."""
    plant = current()
    letters = t.letters.c
    with plant.ledger.read() as conn:
        rows = conn.execute(select(t.letters).where(letters.submission_id == submission_id,
                                                    letters.state == State.RECEIVED.value,
                                                    letters.preflight_ok == 1).order_by(letters.pk)).all()
        version = newest_version(conn)
        at = now()
        consents = lookup(conn, version, [r.recipient_id for r in rows], at) if version is not None else {}
    if not rows:
        return
    digital = [r for r in rows if r.recipient_id in consents]
    paper = [r for r in rows if r.recipient_id not in consents]
    for row in digital:
        _write_digital(plant.settings, row, consents[row.recipient_id])
    decision = {"registry_version": version, "decided_at": at}
    with plant.ledger.tx() as conn:
        pks = [r.pk for r in digital]
        moved = move_letters(conn, pks, Event.ROUTE_DIGITAL, State.RECEIVED,
                             data={**decision, "answer": "digital", "rule": "consent valid at decision time"},
                             extra={"channel": Channel.DIGITAL.value})
        move_letters(conn, moved, Event.DELIVER_DIGITAL, State.DIGITAL,
                     data={"outbox": str(plant.settings.digital_outbox_dir)})
        rule = "no consent registry loaded" if version is None else "no valid consent for recipient"
        moved = move_letters(conn, [r.pk for r in paper], Event.ROUTE_PRINT, State.RECEIVED,
                             data={**decision, "answer": "print", "rule": rule},
                             extra={"channel": Channel.PRINT.value})
        by_pk = {r.pk: r for r in paper}
        ids = allocate(conn, plant.settings.ids, len(moved))
        mass = plant.settings.mass
        if moved:
            conn.execute(insert(t.pieces), [
                {"letter_pk": pk, "tracking_id": tid, "sheets": by_pk[pk].pages, "prints": 0,
                 "mass_g": round(by_pk[pk].pages * mass.paper_gsm * A4_AREA_M2 + mass.envelope_g, 1)}
                for pk, tid in zip(moved, ids)
            ])
            enqueue(conn, "plan", submission_id)
        enqueue(conn, "receipts", submission_id)
    log.info("routed", submission=submission_id, digital=len(digital), print=len(paper), registry_version=version)
    plant.notify()


def _write_digital(settings, row, consent) -> None:
    """Put the letter and its JSON envelope into the digital outbox (idempotent: same names, same bytes)."""
    folder = settings.digital_outbox_dir / row.submission_id
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{row.letter_id}.pdf"
    if not target.exists():
        temp = folder / f".{row.letter_id}.pdf.tmp"
        shutil.copyfile(blob_path(settings.blobs_dir, row.pdf_sha256), temp)
        temp.replace(target)
    envelope = {"submission_id": row.submission_id, "letter_id": row.letter_id, "recipient_id": row.recipient_id,
                "channel": consent.channel, "address": consent.address, "pdf": target.name,
                "pdf_sha256": row.pdf_sha256}
    atomic_write(folder / f"{row.letter_id}.json", json.dumps(envelope, indent=1).encode())
