"""The imposition library's error tree.

Every error raised on purpose derives from :class:`ImpositionError`, carries the offending file, page or
values as attributes, and has a message that tells the operator what to fix.
"""

from __future__ import annotations

from pathlib import Path


class ImpositionError(Exception):
    """Base class of every error raised on purpose by :mod:`imposition`."""


class UnreadablePdf(ImpositionError):
    """A piece's PDF cannot be opened or parsed. ``path`` is the file, ``reason`` the parser's complaint."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"Cannot read {self.path}: {reason}. Replace the file with a valid PDF and resubmit the letter."
        )


class EncryptedPdf(ImpositionError):
    """A piece's PDF is encrypted; the plant never prints encrypted input. ``path`` is the file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path} is encrypted. Ask the sender for an unencrypted PDF.")


class EmptyPdf(ImpositionError):
    """A piece's PDF has no pages, so there is nothing to print. ``path`` is the file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path} has no pages. Ask the sender for the letter's content.")


class WrongPageSize(ImpositionError):
    """A page is not the sheet size the layout takes.

    ``path`` and ``page`` (1-based) name the page; ``width_pt``/``height_pt`` are its size as displayed
    (rotation applied), ``expected`` names the size required.
    """

    def __init__(self, path: Path, page: int, width_pt: float, height_pt: float, expected: str) -> None:
        self.path = Path(path)
        self.page = page
        self.width_pt = width_pt
        self.height_pt = height_pt
        self.expected = expected
        mm = 25.4 / 72
        super().__init__(
            f"{self.path} page {page} is {width_pt * mm:.1f} × {height_pt * mm:.1f} mm; expected {expected}. "
            "Ask the sender to export the letter on that paper size."
        )


class MarkError(ImpositionError):
    """A code mark cannot be made or does not fit its zone. ``piece_id`` names the piece, ``reason`` the
    problem."""

    def __init__(self, piece_id: str, reason: str) -> None:
        self.piece_id = piece_id
        self.reason = reason
        super().__init__(f"Cannot mark piece {piece_id!r}: {reason}.")


class DuplicatePiece(ImpositionError):
    """The same piece id appears twice in one job; control codes would no longer name one piece.
    ``piece_id``."""

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

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Invalid layout: {reason}. Change the layout options and impose again.")


class PieceTooLong(ImpositionError):
    """A piece has more leaves than one cut stack holds, so the stack cannot end on a piece boundary.

    ``piece_id`` names the piece, ``leaves`` its leaf count, ``capacity`` the leaves one stack holds.
    """

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

    def __init__(self, path: Path, page: int, reason: str) -> None:
        self.path = Path(path)
        self.page = page
        self.reason = reason
        super().__init__(f"{self.path} page {page}: {reason}.")


class OmrGeometryError(ImpositionError):
    """The OMR mark settings break the inserter's reading limits (REFERENCE.md, Envelope inserters).

    ``setting`` names the offending setting, ``reason`` the limit.
    """

    def __init__(self, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(f"OMR setting {setting}: {reason}. Change it in the OMR configuration.")


class RasterError(ImpositionError):
    """Sheets could not be rendered or encoded as raster. ``reason`` carries the renderer's complaint."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Cannot write raster output: {reason}.")
