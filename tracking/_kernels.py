"""Numba raster kernels; :mod:`tracking.raster` is their stable public face.

Each kernel computes exactly what its namesake in :mod:`tracking._reference` computes (tests check bit for
bit) but in one pass without temporaries, because the plant stamps a code on every sheet.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray


@njit(cache=True)
def pack_bits(
    bitmap: NDArray[np.bool_],
) -> NDArray[np.uint8]:  # pragma: no cover - compiled; covered through the reference comparison
    """Pack a bool bitmap (True = dark) into PDF 1-bit rows: MSB first, 0 = dark, rows padded with light
    bits."""
    height, width = bitmap.shape
    row_bytes = (width + 7) // 8
    out = np.full((height, row_bytes), 0xFF, dtype=np.uint8)
    for y in range(height):
        for x in range(width):
            if bitmap[y, x]:
                out[y, x >> 3] &= np.uint8(~(0x80 >> (x & 7)) & 0xFF)
    return out


@njit(cache=True)
def scale_modules(
    matrix: NDArray[np.bool_], px_per_module: int, quiet_modules: int
) -> NDArray[np.bool_]:  # pragma: no cover - compiled
    """Blow each module up to a ``px_per_module`` square and surround the symbol with a light quiet zone."""
    rows, cols = matrix.shape
    offset = quiet_modules * px_per_module
    out = np.zeros(
        ((rows + 2 * quiet_modules) * px_per_module, (cols + 2 * quiet_modules) * px_per_module),
        dtype=np.bool_,
    )
    for r in range(rows):
        for c in range(cols):
            if matrix[r, c]:
                y0 = offset + r * px_per_module
                x0 = offset + c * px_per_module
                out[y0 : y0 + px_per_module, x0 : x0 + px_per_module] = True
    return out


@njit(cache=True)
def module_edges(count: int, module_px: float) -> NDArray[np.int64]:  # pragma: no cover - compiled
    """Device-pixel coordinates of the ``count + 1`` module edges: edge k at
    ``floor(k · module_px + 0.5)``."""
    edges = np.empty(count + 1, dtype=np.int64)
    for k in range(count + 1):
        edges[k] = np.int64(np.floor(k * module_px + 0.5))
    return edges


@njit(cache=True)
def render_modules(
    matrix: NDArray[np.bool_], module_w: float, module_h: float, quiet_x: int, quiet_y: int, reduction: int
) -> NDArray[np.bool_]:  # pragma: no cover - compiled
    """Render a module matrix at a non-integer module size, with bar-width reduction and a quiet zone.

    Module edges sit at rounded device coordinates (see :func:`module_edges`), so every module is
    ``floor`` or ``ceil`` of the module size wide and the symbol never drifts. A dark module gives up
    ``reduction // 2`` pixels on its left/top side and the rest on its right/bottom side, but only on sides
    that border a light module: touching dark modules stay joined.
    """
    rows, cols = matrix.shape
    xe = module_edges(cols + 2 * quiet_x, module_w)
    ye = module_edges(rows + 2 * quiet_y, module_h)
    out = np.zeros((ye[rows + 2 * quiet_y], xe[cols + 2 * quiet_x]), dtype=np.bool_)
    lo = reduction // 2
    hi = reduction - lo
    for r in range(rows):
        for c in range(cols):
            if not matrix[r, c]:
                continue
            x0 = xe[c + quiet_x]
            x1 = xe[c + quiet_x + 1]
            y0 = ye[r + quiet_y]
            y1 = ye[r + quiet_y + 1]
            if c == 0 or not matrix[r, c - 1]:
                x0 += lo
            if c == cols - 1 or not matrix[r, c + 1]:
                x1 -= hi
            if r == 0 or not matrix[r - 1, c]:
                y0 += lo
            if r == rows - 1 or not matrix[r + 1, c]:
                y1 -= hi
            for y in range(y0, y1):
                for x in range(x0, x1):
                    out[y, x] = True
    return out


@njit(cache=True)
def stamp_gray(
    page: NDArray[np.uint8],
    flat: NDArray[np.bool_],
    shapes: NDArray[np.int64],
    starts: NDArray[np.int64],
    positions: NDArray[np.int64],
    dark: np.uint8,
    light: np.uint8,
) -> None:  # pragma: no cover - compiled
    """Paint many bitmaps opaquely into an 8-bit page in place: dark pixels ``dark``, light ones ``light``.

    Bitmap i is ``flat[starts[i] : starts[i] + h·w]`` in row order, ``shapes[i] = (h, w)``, its top-left
    corner at ``positions[i] = (top, left)``; whatever falls outside the page is clipped.
    """
    height, width = page.shape
    for i in range(shapes.shape[0]):
        h = shapes[i, 0]
        w = shapes[i, 1]
        top = positions[i, 0]
        left = positions[i, 1]
        for y in range(max(0, -top), min(h, height - top)):
            base = starts[i] + y * w
            for x in range(max(0, -left), min(w, width - left)):
                page[top + y, left + x] = dark if flat[base + x] else light


@njit(cache=True)
def stamp_packed(
    packed: NDArray[np.uint8],
    width: int,
    flat: NDArray[np.bool_],
    shapes: NDArray[np.int64],
    starts: NDArray[np.int64],
    positions: NDArray[np.int64],
) -> None:  # pragma: no cover - compiled
    """Paint many bitmaps opaquely into a packed 1-bit page (PDF rows: 0 = dark, MSB first) in place.

    Same bitmap layout as :func:`stamp_gray`; ``width`` is the page width in pixels (padding bits are never
    touched).
    """
    height = packed.shape[0]
    for i in range(shapes.shape[0]):
        h = shapes[i, 0]
        w = shapes[i, 1]
        top = positions[i, 0]
        left = positions[i, 1]
        for y in range(max(0, -top), min(h, height - top)):
            base = starts[i] + y * w
            row = top + y
            for x in range(max(0, -left), min(w, width - left)):
                px = left + x
                mask = np.uint8(0x80 >> (px & 7))
                if flat[base + x]:
                    packed[row, px >> 3] &= np.uint8(~mask & 0xFF)
                else:
                    packed[row, px >> 3] |= mask


@njit(cache=True)
def threshold_pack(
    gray: NDArray[np.uint8], threshold: int
) -> NDArray[np.uint8]:  # pragma: no cover - compiled
    """Threshold an 8-bit page (dark where ``value < threshold``) straight into PDF 1-bit rows in one pass."""
    height, width = gray.shape
    row_bytes = (width + 7) // 8
    full = width // 8
    out = np.empty((height, row_bytes), dtype=np.uint8)
    t = np.uint8(threshold)
    for y in range(height):
        row = gray[y]
        for xb in range(full):
            x = xb * 8
            b = 0
            for k in range(8):
                b = (b << 1) | (1 if row[x + k] >= t else 0)
            out[y, xb] = b
        if full < row_bytes:
            b = 0
            for k in range(8):
                x = full * 8 + k
                light = True if x >= width else row[x] >= t
                b = (b << 1) | (1 if light else 0)
            out[y, full] = b
    return out
