"""1-up simplex on A4, the plant's first layout: kept as a thin wrapper over :func:`imposition.impose`.

Every page of every piece becomes one marked A4 sheet, in order: the control DataMatrix on every sheet, the
tracking Code 128 with its text (and the postage mark, when the piece has one) on each piece's first sheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imposition.geometry import MarkLayout
from imposition.impose import Marks, impose
from imposition.layout import Layout
from imposition.pieces import PieceInput
from imposition.sheetmap import SheetMap

__all__ = ["PieceInput", "impose_1up"]


#: The default of :func:`impose_1up`: the marks where :class:`~imposition.geometry.MarkLayout` puts them.
_DEFAULT_MARK_LAYOUT = MarkLayout()


def impose_1up(
    pieces: Sequence[PieceInput], out_path: Path, job_id: str, layout: MarkLayout = _DEFAULT_MARK_LAYOUT
) -> SheetMap:
    """Impose ``pieces`` 1-up simplex on A4 into ``out_path`` and return the job's sheet map.

    ``layout`` is where the marks go (kept under this name for existing callers). Raises an
    :class:`~imposition.errors.ImpositionError` naming the file and page for unreadable, encrypted or non-A4
    input; then no output file is written.
    """
    return impose(pieces, out_path, job_id, Layout(), Marks(geometry=layout))
