"""One scanned piece end to end: read its codes and grade every DataMatrix among them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tracking.scan.grade import Grade, Grading, grade_datamatrix
from tracking.scan.layout import CodeKind, Region
from tracking.scan.read import Code, read_codes


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The codes read from one scan, the grading of each (None where the symbology is not graded), and which
    of the expected kinds were not found (those count as grade F)."""

    codes: tuple[Code, ...]
    gradings: tuple[Grading | None, ...]
    missing: tuple[CodeKind, ...]

    @property
    def overall(self) -> Grade | None:
        """The lowest grade over the graded codes; F when an expected code is missing; None when nothing is
        graded."""
        grades = [g.overall for g in self.gradings if g is not None]
        if self.missing:
            grades.append(Grade.F)
        return min(grades) if grades else None


def scan_piece(
    image: np.ndarray, dpi: float, regions: Sequence[Region] | None = None, *, grade: bool = True
) -> ScanResult:
    """Read every code of ``image`` (see :func:`read_codes`) and grade each DataMatrix on the original gray
    image."""
    codes = read_codes(image, dpi, regions)
    gradings: list[Grading | None] = []
    for code in codes:
        if grade and code.format == "DataMatrix" and code.version:
            size = int(code.version.split("x")[0])
            gradings.append(grade_datamatrix(image, code.corners, size, code.text, code.decoder_uec))
        else:
            gradings.append(None)
    found = {code.kind for code in codes}
    missing = tuple(r.kind for r in regions or () if r.kind not in found)
    return ScanResult(tuple(codes), tuple(gradings), missing)
