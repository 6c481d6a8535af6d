"""A letter's history for ``plant status``: found by letter id or tracking id, with every event."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_, select

from plant.config import Settings
from plant.errors import NotFound
from plant.ledger import Ledger
from plant.ledger import schema as t


def letter_history(settings: Settings, identifier: str) -> list[dict]:
    """Every letter whose letter id or tracking id is ``identifier``, each with its events in order."""
    ledger = Ledger(settings.ledger_url)
    try:
        with ledger.read() as conn:
            found = histories(conn, identifier)
    finally:
        ledger.dispose()
    if not found:
        raise NotFound(
            f"No letter with letter id or tracking id {identifier!r} in the ledger at "
            f"{settings.ledger_url}; check the id on the receipt.",
            identifier=identifier,
        )
    return found


def histories(conn, identifier: str) -> list[dict]:
    """Like :func:`letter_history` on an open connection; an empty list when nothing matches (the web pages)."""
    letters = conn.execute(
        select(t.letters, t.pieces.c.tracking_id, t.pieces.c.piece_id)
        .select_from(t.letters.outerjoin(t.pieces, t.pieces.c.letter_pk == t.letters.c.pk))
        .where(or_(t.letters.c.letter_id == identifier, t.pieces.c.tracking_id == identifier))
        .order_by(t.letters.c.pk)
    ).all()
    return [_one(conn, row) for row in letters]


def _one(conn, row) -> dict:
    events = conn.execute(
        select(t.events)
        .where(t.events.c.entity == "letter", t.events.c.entity_id == str(row.pk))
        .order_by(t.events.c.id)
    ).all()
    return {
        "submission_id": row.submission_id,
        "letter_id": row.letter_id,
        "tracking_id": row.tracking_id,
        "piece_id": row.piece_id,
        "state": row.state,
        "channel": row.channel,
        "reason": row.reason,
        "events": [
            {
                "at": datetime.fromtimestamp(e.at, UTC).isoformat(timespec="milliseconds"),
                "event": e.event,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "data": e.data,
            }
            for e in events
        ],
    }
