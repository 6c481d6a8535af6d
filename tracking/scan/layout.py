"""Where codes sit on a scanned piece: regions of interest as plain rectangles in millimetres.

A QA scan is read region by region: cutting the known place of each code out of the image first makes
reading fast (a 20 mm square instead of a whole envelope) and tells the reader which symbology to expect.
Rectangles are measured from the top-left corner of the scanned piece, x to the right and y down, and must
already include the play of the piece on the scanner (skew, shift).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import zxingcpp

from tracking.errors import ScanError


class CodeKind(Enum):
    """What a code on a piece is for; each kind has its symbology."""

    #: The per-sheet control DataMatrix (``job|piece|i/n``).
    CONTROL = "control"
    #: The tracking id as Code 128 in the address window.
    TRACKING = "tracking"
    #: The postage mark, a QR (or DataMatrix) with the plant's signed payload.
    POSTAGE = "postage"

    @property
    def formats(self) -> zxingcpp.BarcodeFormats:
        """The zxing-cpp formats a code of this kind may be printed in."""
        return _FORMATS[self]


_FORMATS = {
    CodeKind.CONTROL: zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.DataMatrix),
    CodeKind.TRACKING: zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.Code128),
    CodeKind.POSTAGE: zxingcpp.BarcodeFormats(
        [zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.DataMatrix]
    ),
}


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle (mm, from the top-left of the piece) where one code of ``kind`` is expected.

    ``module_mm`` is the code's expected module (narrow bar) size; the pre-processing path sizes its windows
    from it.
    """

    kind: CodeKind
    x_mm: float
    y_mm: float
    w_mm: float
    h_mm: float
    module_mm: float = 0.5

    def __post_init__(self) -> None:
        if self.w_mm <= 0 or self.h_mm <= 0 or self.module_mm <= 0:
            raise ScanError(
                f"region {self.kind.value}",
                (self.w_mm, self.h_mm, self.module_mm),
                "needs a positive width, height and module size",
            )

    def pixels(self, dpi: float, shape: tuple[int, ...]) -> tuple[slice, slice]:
        """The region as (row, column) slices of an image of ``shape`` scanned at ``dpi``, clipped to the
        image."""
        scale = dpi / 25.4
        top, left = max(0, int(self.y_mm * scale)), max(0, int(self.x_mm * scale))
        bottom = min(shape[0], int(round((self.y_mm + self.h_mm) * scale)))
        right = min(shape[1], int(round((self.x_mm + self.w_mm) * scale)))
        if bottom <= top or right <= left:
            raise ScanError(
                f"region {self.kind.value}",
                (self.x_mm, self.y_mm, self.w_mm, self.h_mm),
                f"lies outside the {shape[1]} × {shape[0]} px image at {dpi} dpi; check the layout and --dpi",
            )
        return slice(top, bottom), slice(left, right)
