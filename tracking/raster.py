"""Stable raster functions over module matrices and bitmaps, backed by the Numba kernels.

The conventions are PDF's: in a packed 1-bit row a 0 bit is dark (what both a 1-bit ``/DeviceGray`` image and
an ``/ImageMask`` with the default ``/Decode [0 1]`` paint), bits run most significant first, and every row is
padded to a whole byte with light bits. Arrays use True = dark throughout.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from tracking import _kernels
from tracking.errors import RasterError

#: Millimetres per inch: device resolutions are in dots per inch, the plant's code sizes in millimetres.
MM_PER_INCH = 25.4
#: Quiet zone of a 2-D symbol when none is given: DataMatrix ECC200's minimum (QR needs 4, pass it).
DEFAULT_QUIET_2D = 1
#: Quiet zone left and right of a linear symbol when none is given: Code 128's minimum.
DEFAULT_QUIET_LINEAR = 10
#: Gray level painted for dark pixels when stamping into an 8-bit page (0 = black ink).
INK = 0
#: Gray level painted for light pixels (quiet zone, light modules) when stamping into an 8-bit page.
PAPER = 255
#: Default threshold of :func:`threshold_pack`: values below it are dark.
DEFAULT_THRESHOLD = 128


def _as_bool_2d(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise RasterError(
            name, f"{array.dtype}{array.shape}", f"must be a 2-D array, got {array.ndim} dimension(s)"
        )
    if array.dtype != np.bool_:
        raise RasterError(
            name,
            f"{array.dtype}{array.shape}",
            f"must be a bool array (True = dark), got dtype {array.dtype}",
        )
    return np.ascontiguousarray(array)


def pack_bits(bitmap: np.ndarray) -> np.ndarray:
    """Pack a bool bitmap (True = dark) into a ``(height, ceil(width / 8))`` uint8 array of PDF 1-bit rows.

    ``pack_bits(b).tobytes()`` is the stream data of a 1-bit image ``b.shape[1]`` wide and ``b.shape[0]``
    high.
    """
    return _kernels.pack_bits(_as_bool_2d(bitmap, "bitmap"))


def scale_modules(matrix: np.ndarray, px_per_module: int, quiet_modules: int) -> np.ndarray:
    """Turn a module matrix into a bitmap: each module ``px_per_module`` pixels square, ``quiet_modules``
    light modules around."""
    if px_per_module < 1:
        raise RasterError("px_per_module", px_per_module, "must be at least 1")
    if quiet_modules < 0:
        raise RasterError("quiet_modules", quiet_modules, "must not be negative")
    return _kernels.scale_modules(_as_bool_2d(matrix, "matrix"), int(px_per_module), int(quiet_modules))


def mm_to_px(length_mm: float, dpi: float) -> float:
    """Convert a length in millimetres to device pixels at ``dpi`` (not rounded)."""
    return length_mm * dpi / MM_PER_INCH


def render_symbol(
    matrix: np.ndarray,
    dpi: float,
    module_mm: float,
    *,
    quiet_modules: int | None = None,
    bar_width_reduction_mm: float = 0.0,
    bar_height_mm: float | None = None,
) -> np.ndarray:
    """Render a module matrix as a device bitmap (True = dark) at ``dpi`` with its quiet zone.

    Module sizes need not be whole pixels: module edges are placed at rounded device coordinates, so modules
    are one pixel wider or narrower here and there but the symbol keeps its exact overall size. Bar-width
    reduction (for ink spread or toner gain) is rounded to whole device pixels and taken off every dark module
    side that faces a light module; touching dark modules stay joined. A one-row matrix is a linear symbol:
    ``bar_height_mm`` gives its height and the quiet zone is only left and right.
    """
    matrix = _as_bool_2d(matrix, "matrix")
    if dpi <= 0 or module_mm <= 0:
        raise RasterError("dpi and module_mm", (dpi, module_mm), "must both be positive")
    module_px = mm_to_px(module_mm, dpi)
    if module_px < 1:
        raise RasterError(
            "module_mm", module_mm, f"is {module_px:.2f} px at {dpi} dpi; a module needs at least 1 px"
        )
    reduction = int(np.floor(mm_to_px(bar_width_reduction_mm, dpi) + 0.5))
    if not 0 <= reduction < module_px:
        raise RasterError(
            "bar_width_reduction_mm",
            bar_width_reduction_mm,
            f"is {reduction} px at {dpi} dpi; it must be ≥ 0 and below the module size ({module_px:.2f} px)",
        )
    linear = matrix.shape[0] == 1
    quiet = (
        (DEFAULT_QUIET_LINEAR if linear else DEFAULT_QUIET_2D)
        if quiet_modules is None
        else int(quiet_modules)
    )
    if quiet < 0:
        raise RasterError("quiet_modules", quiet_modules, "must not be negative")
    if linear:
        if bar_height_mm is None or bar_height_mm <= 0:
            raise RasterError("bar_height_mm", bar_height_mm, "must be given (positive) for a linear symbol")
        # The reduction is horizontal only: a one-row symbol's bars have no light neighbour above or below.
        height_px = float(np.floor(mm_to_px(bar_height_mm, dpi) + 0.5)) + reduction
        bitmap = _kernels.render_modules(matrix, module_px, height_px, quiet, 0, reduction)
        return np.ascontiguousarray(bitmap[reduction // 2 : bitmap.shape[0] - (reduction - reduction // 2)])
    return _kernels.render_modules(matrix, module_px, module_px, quiet, quiet, reduction)


class Stamp(NamedTuple):
    """A bitmap (True = dark) to paint into a page with its top-left corner at device pixel (``top``,
    ``left``)."""

    bitmap: np.ndarray
    top: int
    left: int


def _batch(stamps: Iterable[Stamp]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lay many bitmaps out as one flat buffer with shapes, offsets and positions, for one kernel call."""
    bitmaps, shapes, positions = [], [], []
    for bitmap, top, left in stamps:
        bitmaps.append(_as_bool_2d(bitmap, "bitmap").ravel())
        shapes.append(bitmap.shape)
        positions.append((int(top), int(left)))
    sizes = np.array([b.size for b in bitmaps], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    flat = np.concatenate(bitmaps) if bitmaps else np.zeros(0, dtype=np.bool_)
    return (
        flat,
        np.array(shapes, dtype=np.int64).reshape(-1, 2),
        starts,
        np.array(positions, dtype=np.int64).reshape(-1, 2),
    )


def stamp_gray(
    page: np.ndarray, stamps: Iterable[Stamp], *, ink: int = INK, paper: int = PAPER
) -> np.ndarray:
    """Paint bitmaps opaquely into an 8-bit page in place (dark → ``ink``, light → ``paper``); return the
    page.

    Opaque because a symbol's quiet zone must be clear whatever was under it. Parts outside the page are
    clipped, so a misplaced stamp never raises mid-job; check placement against the clear zones beforehand.
    """
    if page.ndim != 2 or page.dtype != np.uint8 or not page.flags.c_contiguous:
        raise RasterError("page", f"{page.dtype}{page.shape}", "must be a C-contiguous 2-D uint8 array")
    _kernels.stamp_gray(page, *_batch(stamps), np.uint8(ink), np.uint8(paper))
    return page


def stamp_packed(packed: np.ndarray, width: int, stamps: Iterable[Stamp]) -> np.ndarray:
    """Paint bitmaps opaquely into a packed 1-bit page of ``width`` pixels (PDF rows) in place; return it."""
    if packed.ndim != 2 or packed.dtype != np.uint8 or packed.shape[1] != (width + 7) // 8:
        raise RasterError(
            "packed",
            f"{packed.dtype}{packed.shape}",
            f"must be uint8 rows of {(width + 7) // 8} bytes for width {width}",
        )
    _kernels.stamp_packed(packed, int(width), *_batch(stamps))
    return packed


def threshold_pack(gray: np.ndarray, threshold: int = DEFAULT_THRESHOLD) -> np.ndarray:
    """Threshold an 8-bit page (dark where ``value < threshold``) into PDF 1-bit rows in one pass."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise RasterError("gray", f"{gray.dtype}{gray.shape}", "must be a 2-D uint8 array")
    if not 0 <= threshold <= 255:
        raise RasterError("threshold", threshold, "must be between 0 and 255")
    return _kernels.threshold_pack(gray, int(threshold))
