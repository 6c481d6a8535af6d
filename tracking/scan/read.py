"""Reading the codes on a scanned piece with zxing-cpp: regions first, a pre-processed second try for poor
scans.

Each region of the known layout is cut out (a view, no copy) and read plainly with the symbologies its kind
allows. Only when that finds nothing does the reader run the Numba pre-processing path
(:mod:`tracking.scan.preprocess`) and read the binarised result, first with windows sized for the module, then
with a wider window, then deskewed. Without a layout the whole image is read the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import zxingcpp

from tracking.errors import ScanError
from tracking.raster import mm_to_px
from tracking.scan import preprocess
from tracking.scan.layout import CodeKind, Region

#: Module size assumed when the whole image is read without a layout, mm (the plant's control code module).
DEFAULT_MODULE_MM = 0.5
#: Binarisation windows (radius in modules) of the successive pre-processed attempts; the last one deskews.
ATTEMPT_WINDOWS = (1.35, 2.0)

_KIND_OF_FORMAT = {
    zxingcpp.BarcodeFormat.DataMatrix: CodeKind.CONTROL,
    zxingcpp.BarcodeFormat.Code128: CodeKind.TRACKING,
    zxingcpp.BarcodeFormat.QRCode: CodeKind.POSTAGE,
}
_ALL_FORMATS = zxingcpp.BarcodeFormats(
    [zxingcpp.BarcodeFormat.DataMatrix, zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.QRCode]
)

Corners = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Code:
    """One code read from a scan.

    ``corners`` are zxing-cpp's top-left, top-right, bottom-right and bottom-left corners of the symbol in
    pixels of the whole image (x, y); ``preprocessed`` tells whether the plain read failed and the
    pre-processing path found it. ``version`` is the decoder's symbol version (``"24x24"`` for a DataMatrix)
    and ``decoder_uec`` its own unused-error-correction figure, when it reports them.
    """

    kind: CodeKind
    text: str
    format: str
    corners: Corners
    preprocessed: bool = False
    version: str | None = None
    decoder_uec: float | None = None


def _read(
    image: np.ndarray, formats: zxingcpp.BarcodeFormats, binary: bool, rotate: bool
) -> list[zxingcpp.Barcode]:
    """One zxing-cpp pass over a region: no downscaling, no inverted search (our codes are dark on light).

    Rotated search only for linear codes: the 2-D detectors find any orientation anyway, and the rotated
    passes would triple the time of every DataMatrix read.
    """
    return zxingcpp.read_barcodes(
        image,
        formats=formats,
        try_rotate=rotate,
        try_downscale=False,
        try_invert=False,
        binarizer=zxingcpp.Binarizer.BoolCast if binary else zxingcpp.Binarizer.LocalAverage,
    )


def _corners(
    found: zxingcpp.Barcode, shift: tuple[int, int], turn: tuple[float, tuple[int, int]] | None
) -> Corners:
    """zxing-cpp's corner points mapped back to whole-image pixels (undoing a deskew rotation if one was
    made)."""
    position = found.position
    points: list[tuple[float, float]] = [
        (p.x, p.y)
        for p in (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    ]
    if turn is not None:
        angle, (cx, cy) = turn
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        points = [(c * (x - cx) - s * (y - cy) + cx, s * (x - cx) + c * (y - cy) + cy) for x, y in points]
    moved = [(x + shift[1], y + shift[0]) for x, y in points]
    return moved[0], moved[1], moved[2], moved[3]


def _kind(found: zxingcpp.Barcode, region: Region | None) -> CodeKind:
    return region.kind if region is not None else _KIND_OF_FORMAT.get(found.format, CodeKind.CONTROL)


def _code(
    found: zxingcpp.Barcode,
    region: Region | None,
    shift: tuple[int, int],
    turn: tuple[float, tuple[int, int]] | None,
    preprocessed: bool,
) -> Code:
    reported = found.extra  # zxing-cpp's symbology details: a dict, maybe empty (typed only as object)
    extra: dict[str, Any] = reported if isinstance(reported, dict) else {}
    uec = extra.get("UEC")
    return Code(
        _kind(found, region),
        found.text,
        found.format.name,
        _corners(found, shift, turn),
        preprocessed,
        None if extra.get("Version") is None else str(extra["Version"]),
        None if uec is None else float(uec),
    )


def read_area(
    image: np.ndarray,
    formats: zxingcpp.BarcodeFormats,
    module_px: float,
    *,
    region: Region | None = None,
    shift: tuple[int, int] = (0, 0),
) -> list[Code]:
    """Read one area: plainly, then through the pre-processing attempts until one finds a code."""
    rotate = region is None or region.kind is CodeKind.TRACKING
    found = _read(image, formats, binary=False, rotate=rotate)
    if found:
        return [_code(f, region, shift, None, False) for f in found]
    attempts = [preprocess.Preprocessing.for_module(module_px, window_modules=w) for w in ATTEMPT_WINDOWS]
    attempts.append(preprocess.Preprocessing.for_module(module_px, deskew=True))
    for attempt in attempts:
        turn = None
        if attempt.deskew:
            smooth = preprocess.denoise(image, attempt.denoise_radius)
            angle = preprocess.skew_deg(smooth)
            if abs(angle) < preprocess.MIN_DESKEW_DEG:
                continue
            turn = (angle, (image.shape[1] // 2, image.shape[0] // 2))
            mask = (
                ~preprocess.binarize(preprocess.rotate(smooth, angle), attempt.window_radius, attempt.offset)
            ).view(np.uint8)
        else:
            mask = preprocess.light_mask(image, attempt)
        found = _read(mask, formats, binary=True, rotate=rotate)
        if found:
            return [_code(f, region, shift, turn, True) for f in found]
    return []


def read_region(image: np.ndarray, dpi: float, region: Region) -> list[Code]:
    """Read the codes of ``region`` (a rectangle in mm of the piece) from a scan at ``dpi``."""
    rows, cols = region.pixels(dpi, image.shape)
    return read_area(
        image[rows, cols],
        region.kind.formats,
        mm_to_px(region.module_mm, dpi),
        region=region,
        shift=(rows.start, cols.start),
    )


def read_codes(image: np.ndarray, dpi: float, regions: Sequence[Region] | None = None) -> list[Code]:
    """Read every code of a scanned piece (8-bit gray, ``dpi``): region by region, or the whole image.

    With ``regions`` (the known layout) each region is read for its kind of code; without, the whole image is
    read for DataMatrix, Code 128 and QR, the kind taken from the symbology.
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ScanError(
            "image",
            f"{image.dtype}{image.shape}",
            "must be a 2-D uint8 gray image; convert colour scans to gray",
        )
    if dpi <= 0:
        raise ScanError("dpi", dpi, "must be positive")
    if not regions:
        return read_area(image, _ALL_FORMATS, mm_to_px(DEFAULT_MODULE_MM, dpi))
    return [code for region in regions for code in read_region(image, dpi, region)]
