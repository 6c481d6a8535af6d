"""Printed stacks for the inserter tests: A4 pages with a real DataMatrix control code in the control zone."""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from tracking.symbols import datamatrix

#: (x, y, w, h) in points from the top-left: 6 mm, 250 mm, 12 × 12 mm.
ZONE = (6 * mm, 250 * mm, 12 * mm, 12 * mm)
#: Module edge of the test codes.
MODULE = 0.5 * mm


def make_stack(path: Path, codes: list[str | None]) -> Path:
    """A PDF with one page per entry: the code drawn in the zone, or an empty zone for None."""
    c = canvas.Canvas(str(path), pagesize=A4)
    height = A4[1]
    for text in codes:
        c.setFont("Helvetica", 10)
        c.drawString(30 * mm, height - 40 * mm, f"sheet with {text}")
        if text is not None:
            matrix = datamatrix(text)
            x0 = ZONE[0] + MODULE
            top = height - ZONE[1] - MODULE
            for row, line in enumerate(matrix):
                for col, dark in enumerate(line):
                    if dark:
                        c.rect(x0 + col * MODULE, top - (row + 1) * MODULE, MODULE, MODULE, stroke=0, fill=1)
        c.showPage()
    c.save()
    return path


def sheets_of(job: str, pieces: dict[str, int]) -> list[str]:
    """Control codes for ``pieces`` (id → sheet count) in order."""
    return [f"{job}|{piece}|{i}/{n}" for piece, n in pieces.items() for i in range(1, n + 1)]
