"""A print letter's piece: its tracking id, its sheets (leaves: ⌈pages/2⌉ in duplex) and its mass, from which
its weight band, the inserters that take it and its print time follow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, insert

from plant.config import MassConfig, Settings
from plant.ledger import schema as t
from plant.postage.ids import allocate_for
from tracking.postage import piece_mass_g


def make_pieces(conn: Connection, settings: Settings, rows: Sequence[Row[Any]]) -> None:
    """Give each print letter of ``rows`` its piece: a tracking id, its sheets and its mass.

    A piece's sheets are its leaves (:func:`leaves`): ⌈pages/2⌉ for a duplex letter, its pages for a
    simplex one; its mass, and so its tariff band, the inserters that take it and its print time follow them.
    """
    if not rows:
        return
    ids = allocate_for(conn, settings, len(rows))
    sheets = [leaves(row.pages, bool(row.duplex)) for row in rows]
    conn.execute(
        insert(t.pieces),
        [
            {
                "letter_pk": row.pk,
                "tracking_id": tid,
                "sheets": n,
                "prints": 0,
                "mass_g": piece_mass(settings.mass, n),
            }
            for row, tid, n in zip(rows, ids, sheets, strict=True)
        ],
    )


def leaves(pages: int, duplex: bool) -> int:
    """Sheets of paper a letter of ``pages`` pages takes: one page a leaf simplex, two (⌈pages/2⌉) duplex.

    A piece's sheets are its leaves: what it weighs, which tariff band it pays, which envelope takes it and
    how long it prints all follow the leaves, not the pages.
    """
    return -(-pages // 2) if duplex else pages


def piece_mass(mass: MassConfig, sheets: int) -> float:
    """Mass in grams of a piece of ``sheets`` sheets (leaves, see :func:`leaves`): paper (g/m² × sheet area) +
    envelope + inserts."""
    area_m2 = mass.sheet_width_mm * mass.sheet_height_mm / 1_000_000
    return piece_mass_g(sheets, mass.paper_gsm, area_m2, mass.envelope_g, mass.inserts_g)
