"""Plain reads of the ledger: a letter's history (``plant status``, the piece page), receipt rows, what a run
finished with, the handover manifests. Nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Row, func, or_, select

from plant.errors import NotFound
from plant.ledger import open_ledger
from plant.ledger import schema as t
from plant.ledger import schema_dispatch as td
from plant.ledger import schema_intake as ti
from plant.ledger import schema_postage as tp

if TYPE_CHECKING:
    from plant.config import Settings


def letter_history(settings: Settings, identifier: str) -> list[dict]:
    """Every letter whose letter id or tracking id is ``identifier``, each with its events in order. The
    ledger is only read: a missing one is :class:`NotFound`, not created."""
    ledger = open_ledger(settings, read_only=True)
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
    """Like :func:`letter_history` on an open connection; an empty list when nothing matches (the web
    pages)."""
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


def _iso(stamp: float | None) -> str:
    return "" if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def unfinished_submissions(conn: Connection) -> list[str]:
    """Ids of the submissions not finished yet, oldest first."""
    return list(
        conn.execute(
            select(t.submissions.c.submission_id)
            .where(t.submissions.c.finished_at.is_(None))
            .order_by(t.submissions.c.submission_id)
        ).scalars()
    )


def letter_outcomes(conn: Connection, submissions: list[str]) -> list[Row]:
    """State, channel and pages of every letter of ``submissions`` (a run's summary)."""
    return list(
        conn.execute(
            select(t.letters.c.state, t.letters.c.channel, t.letters.c.pages).where(
                t.letters.c.submission_id.in_(submissions)
            )
        ).all()
    )


def sweep_ids(conn: Connection, annulled: Sequence[str], to_print: Sequence[int]) -> dict[str, list[dict]]:
    """The ids operators use for what a sweep moved: tracking ids of the annulled marks (by piece id), letter
    ids of the digital letters sent to print (by letter pk)."""
    marks = conn.execute(
        select(tp.postage_marks.c.piece_id, tp.postage_marks.c.tracking_id)
        .where(tp.postage_marks.c.piece_id.in_(annulled))
        .order_by(tp.postage_marks.c.piece_id)
    ).all()
    letters = conn.execute(
        select(t.letters.c.submission_id, t.letters.c.letter_id)
        .where(t.letters.c.pk.in_(to_print))
        .order_by(t.letters.c.pk)
    ).all()
    return {
        "annulled": [{"piece_id": r.piece_id, "tracking_id": r.tracking_id} for r in marks],
        "to_print": [{"submission_id": r.submission_id, "letter_id": r.letter_id} for r in letters],
    }


def manifest_list(conn: Connection, state: str | None = None) -> list[dict]:
    """The handover manifests (``state``: only the OPEN or the CLOSED ones), newest collection first, each
    with its pieces, sheets and weight (a manifest with no row in ``manifests`` — written before the table
    existed — is not listed)."""
    m, items = td.manifests.c, t.manifest_items.c
    totals = (
        select(
            items.manifest,
            func.count().label("pieces"),
            func.sum(items.sheets).label("sheets"),
            func.sum(items.mass_g).label("mass_g"),
        )
        .group_by(items.manifest)
        .subquery()
    )
    query = (
        select(td.manifests, totals.c.pieces, totals.c.sheets, totals.c.mass_g)
        .select_from(td.manifests.outerjoin(totals, totals.c.manifest == m.manifest_id))
        .order_by(m.collection.desc(), m.mail_class, m.office)
    )
    if state is not None:
        query = query.where(m.state == state)
    return [
        {
            "manifest_id": r.manifest_id,
            "office": r.office,
            "mail_class": r.mail_class,
            "collection": r.collection,
            "state": r.state,
            "opens_at": _iso(r.opens_at),
            "cutoff_at": _iso(r.cutoff_at),
            "created_at": _iso(r.created_at),
            "closed_at": _iso(r.closed_at),
            "pieces": int(r.pieces or 0),
            "sheets": int(r.sheets or 0),
            "weight_g": round(float(r.mass_g or 0.0), 1),
        }
        for r in conn.execute(query).all()
    ]


def manifest_rows(conn: Connection, manifest_id: str) -> list[Row]:
    """The pieces of manifest ``manifest_id`` in sequence order (the ``manifest_items`` rows)."""
    return list(
        conn.execute(
            select(t.manifest_items)
            .where(t.manifest_items.c.manifest == manifest_id)
            .order_by(t.manifest_items.c.seq)
        ).all()
    )


#: The event (entity ``queue``) in which the recovery sweep records the dead-lettered messages per actor.
DEAD_LETTERS_EVENT = "dead_letters"


def dead_letter_counts(conn: Connection) -> dict[str, int]:
    """Dead-lettered messages per actor, as the last recovery sweep recorded them (empty before any): what
    ``plant_dead_letters{actor}`` shows, read without Redis."""
    ev = t.events.c
    data = conn.execute(
        select(ev.data)
        .where(ev.event == DEAD_LETTERS_EVENT, ev.entity == "queue")
        .order_by(ev.id.desc())
        .limit(1)
    ).scalar()
    counts = (data or {}).get("counts") or {}
    return {str(actor): int(count) for actor, count in sorted(counts.items())}
