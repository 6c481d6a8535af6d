"""Imposition library: sheet layouts, page placement, cut-and-stack order, marks, PDF and raster writers.

Takes and returns plain values (paths, dataclasses); never imports :mod:`plant`. Lengths are PDF points.
The main entry is :func:`impose`; :func:`impose_1up` is the 1-up simplex A4 case under its original name.
"""

from imposition.errors import (
    DuplicatePiece,
    EmptyPdf,
    EncryptedPdf,
    ImpositionError,
    LayoutError,
    MarkError,
    OmrGeometryError,
    PageCountMismatch,
    PageDoesNotFit,
    PieceTooLong,
    RasterError,
    UnreadablePdf,
    WrongPageSize,
)
from imposition.geometry import A4_HEIGHT, A4_WIDTH, PT_PER_MM, MarkLayout, Rect, mm
from imposition.impose import Marks, impose
from imposition.layout import (
    DEFAULT_STACK_DEPTH,
    Duplex,
    Layout,
    Scheme,
    SheetPlan,
    SheetSize,
    cut_and_stack,
    plan_leaves,
    unstack,
)
from imposition.omr import OmrSpec
from imposition.pieces import Normalise, PieceInput
from imposition.sheetmap import CopyPaths, SheetMap, SheetRecord, Side
from imposition.simplex import impose_1up

__all__ = [
    "A4_HEIGHT",
    "A4_WIDTH",
    "CopyPaths",
    "DEFAULT_STACK_DEPTH",
    "DuplicatePiece",
    "Duplex",
    "EmptyPdf",
    "PageCountMismatch",
    "EncryptedPdf",
    "ImpositionError",
    "Layout",
    "LayoutError",
    "MarkError",
    "MarkLayout",
    "Marks",
    "Normalise",
    "OmrGeometryError",
    "OmrSpec",
    "PT_PER_MM",
    "PageDoesNotFit",
    "PieceInput",
    "PieceTooLong",
    "RasterError",
    "Rect",
    "Scheme",
    "SheetMap",
    "SheetPlan",
    "SheetRecord",
    "SheetSize",
    "Side",
    "UnreadablePdf",
    "WrongPageSize",
    "cut_and_stack",
    "impose",
    "impose_1up",
    "mm",
    "plan_leaves",
    "unstack",
]
