"""Numba raster kernels; :mod:`tracking.raster` is their stable public face.

Each kernel computes exactly what its namesake in :mod:`tracking._reference` computes (tests check bit for
bit) but in one pass without temporaries, because the plant stamps a code on every sheet.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def pack_bits(bitmap):  # pragma: no cover - compiled; covered through the reference comparison
    """Pack a bool bitmap (True = dark) into PDF 1-bit rows: MSB first, 0 = dark, rows padded with light bits."""
    height, width = bitmap.shape
    row_bytes = (width + 7) // 8
    out = np.full((height, row_bytes), 0xFF, dtype=np.uint8)
    for y in range(height):
        for x in range(width):
            if bitmap[y, x]:
                out[y, x >> 3] &= np.uint8(~(0x80 >> (x & 7)) & 0xFF)
    return out


@njit(cache=True)
def scale_modules(matrix, px_per_module, quiet_modules):  # pragma: no cover - compiled
    """Blow each module up to a ``px_per_module`` square and surround the symbol with a light quiet zone."""
    rows, cols = matrix.shape
    offset = quiet_modules * px_per_module
    out = np.zeros(((rows + 2 * quiet_modules) * px_per_module, (cols + 2 * quiet_modules) * px_per_module), dtype=np.bool_)
    for r in range(rows):
        for c in range(cols):
            if matrix[r, c]:
                y0 = offset + r * px_per_module
                x0 = offset + c * px_per_module
                out[y0 : y0 + px_per_module, x0 : x0 + px_per_module] = True
    return out
