"""The imposition library's error tree.

Every error raised on purpose derives from :class:`ImpositionError`, carries the offending file, page or
values as attributes, and has a message that tells the sender (or, for job-level errors, the operator) what is
wrong and what to fix. Every error also has three attributes the plant relies on:

* ``piece_id`` (``str | None``): the piece being processed when the error arose (set by
  :func:`imposition.impose` for every error about one piece); None for job-level errors (layout, OMR
  settings, raster output);
* ``code`` (``str``): a stable upper-case code, one per class (``PDF_UNREADABLE``, ``PDF_PASSWORD``, …);
* ``senders_fault`` (``bool``): True when the letter's file is at fault and its sender must fix it, False for
  layout, mark, raster or library problems.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

#: Longest parser complaint kept in a sender's message (the rest is library detail).
_CAUSE_LENGTH = 100
#: What a parser puts before its complaint: the input's description, then where in the file.
_PREFIX = re.compile(r"^(?:stream <[^>]*>|\S+)(?: \((?:object|offset|file position)[^)]*\))?: ")
#: Positions inside the complaint.
_POSITION = re.compile(r"\s*\((?:object|offset|file position)[^)]*\)")


def short_cause(exc: BaseException) -> str:
    """A short, sender-readable cause from a parser exception: its first line without the input's name,
    object numbers and offsets (``"x.pdf (object 12 0, offset 559): expected endstream"`` → ``"expected
    endstream"``)."""
    lines = str(exc).strip().splitlines()
    text = _POSITION.sub("", _PREFIX.sub("", lines[0] if lines else "", count=1)).strip().rstrip(".")
    if not text:
        return type(exc).__name__
    return text if len(text) <= _CAUSE_LENGTH else text[: _CAUSE_LENGTH - 1].rstrip() + "…"


class ImpositionError(Exception):
    """Base class of every error raised on purpose by :mod:`imposition`.

    ``piece_id`` names the piece the error is about (None: the whole job); ``code`` is a stable upper-case
    code of the error's class; ``senders_fault`` says whether the letter's sender must fix their file.
    """

    code: ClassVar[str] = "IMPOSITION"
    senders_fault: ClassVar[bool] = False
    piece_id: str | None = None


class UnreadablePdf(ImpositionError):
    """A piece's PDF cannot be opened or parsed, even after repair. ``path`` is the file, ``reason`` a short
    cause."""

    code = "PDF_UNREADABLE"
    senders_fault = True

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"{self.path.name} is not a readable PDF ({reason}). "
            "Export the letter to PDF again and resubmit it."
        )


class EncryptedPdf(ImpositionError):
    """A piece's PDF needs a password to open, or its security settings forbid printing. ``path`` is the file,
    ``reason`` which of the two.

    PDFs protected by an owner password only (they open without one and allow printing) are not refused: they
    are imposed decrypted.
    """

    code = "PDF_PASSWORD"
    senders_fault = True

    def __init__(self, path: Path, reason: str = "needs a password to open") -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"{self.path.name} {reason}. Export the letter to PDF again without a password and resubmit it."
        )


class EmptyPdf(ImpositionError):
    """A piece's PDF has no pages, so there is nothing to print. ``path`` is the file."""

    code = "NO_PAGES"
    senders_fault = True

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path.name} has no pages. Resubmit the letter with its content.")


class PageCountMismatch(ImpositionError):
    """Two PDF readers disagree on how many pages a piece has: the file is damaged (a broken page tree or
    cross-reference table that each reader repairs its own way), so what would be printed is not what was
    checked. ``expected`` is the other reader's count (the plant's pre-flight), ``found`` this one's."""

    code = "PAGE_COUNT"
    senders_fault = True

    def __init__(self, path: Path, expected: int, found: int) -> None:
        self.path = Path(path)
        self.expected = expected
        self.found = found
        super().__init__(
            f"{self.path.name} is damaged: it shows {expected} page(s) in one PDF reader and {found} in "
            "another, so pages could go missing in print. Export or save the letter as PDF again and "
            "resubmit it."
        )


class WrongPageSize(ImpositionError):
    """A page is not the sheet size the layout takes.

    ``path`` and ``page`` (1-based) name the page; ``width_pt``/``height_pt`` are its size as displayed
    (rotation and /UserUnit applied), ``expected`` names the size required, ``box`` the page box measured
    (``TrimBox``, ``CropBox`` or ``MediaBox``; empty: not known).
    """

    code = "PAGE_SIZE"
    senders_fault = True

    def __init__(
        self, path: Path, page: int, width_pt: float, height_pt: float, expected: str, box: str = ""
    ) -> None:
        self.path = Path(path)
        self.page = page
        self.width_pt = width_pt
        self.height_pt = height_pt
        self.expected = expected
        self.box = box
        mm = 25.4 / 72
        measured = f" (its {box})" if box else ""
        super().__init__(
            f"{self.path.name} page {page}{measured} is {width_pt * mm:.1f} × {height_pt * mm:.1f} mm; "
            f"expected {expected}. Export the letter on that paper size."
        )


class MarkError(ImpositionError):
    """A code mark cannot be made or does not fit its zone. ``piece_id`` names the piece, ``reason`` the
    problem."""

    code = "MARK"

    def __init__(self, piece_id: str, reason: str) -> None:
        self.piece_id = piece_id
        self.reason = reason
        super().__init__(f"Cannot mark piece {piece_id!r}: {reason}.")


class DuplicatePiece(ImpositionError):
    """The same piece id appears twice in one job; control codes would no longer name one piece.
    ``piece_id``."""

    code = "DUPLICATE_PIECE"

    def __init__(self, piece_id: str) -> None:
        self.piece_id = piece_id
        super().__init__(
            f"Piece {piece_id!r} appears more than once in the job. Remove the duplicate before imposing."
        )


class LayoutError(ImpositionError):
    """A layout cannot be built as asked (scheme and sheet do not go together, stack depth not a whole
    number).

    ``reason`` says which option to change.
    """

    code = "LAYOUT"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Invalid layout: {reason}. Change the layout options and impose again.")


class PieceTooLong(ImpositionError):
    """A piece has more leaves than one cut stack holds, so the stack cannot end on a piece boundary.

    ``piece_id`` names the piece, ``leaves`` its leaf count, ``capacity`` the leaves one stack holds.
    """

    code = "PIECE_TOO_LONG"
    senders_fault = True

    def __init__(self, piece_id: str, leaves: int, capacity: int) -> None:
        self.piece_id = piece_id
        self.leaves = leaves
        self.capacity = capacity
        super().__init__(
            f"Piece {piece_id!r} has {leaves} leaves but a stack holds {capacity}; raise the stack depth "
            "or impose the piece in a job of its own without stack padding."
        )


class PageDoesNotFit(ImpositionError):
    """A page cannot be fitted onto an A4 leaf under the configured normalisation.

    ``path`` and ``page`` (1-based) name the page; ``reason`` says why and which option would allow it.
    """

    code = "PAGE_DOES_NOT_FIT"
    senders_fault = True

    def __init__(self, path: Path, page: int, reason: str) -> None:
        self.path = Path(path)
        self.page = page
        self.reason = reason
        super().__init__(f"{self.path.name} page {page}: {reason}.")


class OmrGeometryError(ImpositionError):
    """The OMR mark settings break the inserter's reading limits (REFERENCE.md, Envelope inserters).

    ``setting`` names the offending setting, ``reason`` the limit.
    """

    code = "OMR_GEOMETRY"

    def __init__(self, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(f"OMR setting {setting}: {reason}. Change it in the OMR configuration.")


class RasterError(ImpositionError):
    """Sheets could not be rendered or encoded as raster. ``reason`` carries the renderer's complaint."""

    code = "RASTER"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Cannot write raster output: {reason}.")
