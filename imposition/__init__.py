"""Imposition library: sheet layouts, page placement, code marks and the print-ready PDF writer.

Takes and returns plain values (paths, dataclasses); never imports :mod:`plant`. Lengths are PDF points.
"""

from imposition.errors import (
    DuplicatePiece,
    EmptyPdf,
    EncryptedPdf,
    ImpositionError,
    MarkError,
    UnreadablePdf,
    WrongPageSize,
)
from imposition.geometry import A4_HEIGHT, A4_WIDTH, PT_PER_MM, MarkLayout, Rect, mm
from imposition.sheetmap import SheetMap, SheetRecord, Side
from imposition.simplex import PieceInput, impose_1up

__all__ = [
    "A4_HEIGHT",
    "A4_WIDTH",
    "DuplicatePiece",
    "EmptyPdf",
    "EncryptedPdf",
    "ImpositionError",
    "MarkError",
    "MarkLayout",
    "PT_PER_MM",
    "PieceInput",
    "Rect",
    "SheetMap",
    "SheetRecord",
    "Side",
    "UnreadablePdf",
    "WrongPageSize",
    "impose_1up",
    "mm",
]
