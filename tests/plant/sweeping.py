"""Helpers for the timed-sweep tests: a plant whose ledger holds marks on hold and delivered digital
letters."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import func, select

from plant.intake.consent import import_registry
from plant.intake.submission import accept, read_submission
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.postage.marks import issue_marks, signing_key
from plant.stages.context import Plant, install
from plant.stages.preflight import preflight
from plant.stages.route import route
from plant.storage.paths import consent_index_dir

#: Recipients of the batch (its first ones) who consented to digital delivery.
DIGITAL = 3


def consent_registry(path: Path, recipients: list[str]) -> Path:
    """A consent registry CSV: each of ``recipients`` consented for all senders, with a mailbox address."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["recipient_id", "channel", "address", "valid_from", "valid_to"]
        )
        writer.writeheader()
        writer.writerows(
            {
                "recipient_id": r,
                "channel": "e-mailbox",
                "address": f"{r}@box.example",
                "valid_from": "2000-01-01",
                "valid_to": "",
            }
            for r in recipients
        )
    return path


def routed_plant(settings, batch, workdir: Path, at: float) -> Plant:
    """A device-less plant, installed for the stages, with ``batch`` accepted, pre-flighted and routed at
    ``at``.

    Its first :data:`DIGITAL` recipients consented, so their letters are DELIVERED_DIGITAL (fallback due at
    ``at`` + ``intake.digital_fallback_days``); every print piece has a postage mark on hold, issued at
    ``at``. The plant carries ``submission_id``, ``digital`` (letter pks) and ``pieces`` (piece ids, as the
    marks name them).
    """
    for folder in (settings.blobs_dir, settings.receipts_dir, settings.digital_outbox_dir):
        folder.mkdir(parents=True, exist_ok=True)
    plant = Plant(settings=settings, ledger=Ledger(settings.ledger_url), printers={}, inserters={})
    install(plant)
    package = read_submission(batch.submission)
    recipients = [row.values["recipient_id"] for row in package.rows]
    with plant.ledger.tx() as conn:
        import_registry(
            conn,
            consent_registry(workdir / "consents.csv", recipients[:DIGITAL]),
            index_dir=consent_index_dir(settings),
        )
    plant.submission_id, _ = accept(plant.ledger.tx, settings.blobs_dir, package)
    preflight(plant.submission_id)
    route(plant.submission_id, clock=lambda: at)
    with plant.ledger.tx() as conn:
        pieces = conn.execute(select(t.pieces.c.piece_id).order_by(t.pieces.c.piece_id)).scalars().all()
        issue_marks(conn, settings, pieces, signing_key(settings), at=at)
        plant.digital = (
            conn.execute(
                select(t.letters.c.pk)
                .where(t.letters.c.state == "DELIVERED_DIGITAL")
                .order_by(t.letters.c.pk)
            )
            .scalars()
            .all()
        )
    plant.pieces = [str(p) for p in pieces]
    assert len(plant.digital) == DIGITAL and plant.pieces
    return plant


def event_counts(ledger: Ledger, event: str) -> dict[str, int]:
    """How many ``event`` events each entity has."""
    with ledger.read() as conn:
        return dict(
            conn.execute(
                select(t.events.c.entity_id, func.count())
                .where(t.events.c.event == event)
                .group_by(t.events.c.entity_id)
            ).all()
        )


def mark_states(ledger: Ledger) -> dict[str, str]:
    """Each mark's state, by piece id."""
    with ledger.read() as conn:
        return dict(conn.execute(select(tp.postage_marks.c.piece_id, tp.postage_marks.c.state)).all())


def letter_states(ledger: Ledger, pks) -> list[str]:
    """The states of letters ``pks``, in pk order."""
    with ledger.read() as conn:
        return list(
            conn.execute(
                select(t.letters.c.state).where(t.letters.c.pk.in_(list(pks))).order_by(t.letters.c.pk)
            ).scalars()
        )
