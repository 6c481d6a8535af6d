"""QA reading of scanned pieces: find and decode the codes (zxing-cpp), pre-process poor scans, grade
DataMatrix.

Regions of the known layout are plain rectangles in millimetres (:class:`Region`); :func:`read_codes` reads
them (or the whole image) and :func:`grade_datamatrix` grades a decoded DataMatrix ISO/IEC 15415-style.
:mod:`tracking.scan.synthetic` generates degraded scans with known content for tests and benchmarks.
"""

from tracking.scan.grade import Grade, Grading, Measure, grade_datamatrix, grade_value
from tracking.scan.layout import CodeKind, Region
from tracking.scan.piece import ScanResult, scan_piece
from tracking.scan.read import Code, read_codes, read_region

__all__ = [
    "Code",
    "CodeKind",
    "Grade",
    "Grading",
    "Measure",
    "Region",
    "ScanResult",
    "grade_datamatrix",
    "grade_value",
    "read_codes",
    "read_region",
    "scan_piece",
]
