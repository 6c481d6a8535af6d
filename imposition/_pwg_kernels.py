"""Numba PWG raster line encoder; :func:`imposition.pwg.encode_page` is its stable face.

Computes exactly what :func:`imposition._pwg_reference.encode_page` computes (tests check byte for byte) in
one pass over the page into a preallocated buffer, because every sheet side of a raster job goes through it.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray


@njit(cache=True)
def _same_line(raster: NDArray[np.uint8], a: int, b: int) -> bool:  # pragma: no cover - compiled
    for x in range(raster.shape[1]):  # noqa: SIM110 - Numba cannot compile all() over a generator
        if raster[a, x] != raster[b, x]:
            return False
    return True


@njit(cache=True)
def encode_page(
    raster: NDArray[np.uint8],
) -> NDArray[np.uint8]:  # pragma: no cover - compiled; covered through the reference comparison
    """Compress a height × width uint8 page into PWG line groups; return the bytes as a uint8 array."""
    height, width = raster.shape
    out = np.empty(height * (1 + 2 * width), dtype=np.uint8)  # worst case: every pixel a run of one
    n = 0
    y = 0
    while y < height:
        repeat = 1
        while y + repeat < height and repeat < 256 and _same_line(raster, y, y + repeat):
            repeat += 1
        out[n] = repeat - 1
        n += 1
        i = 0
        while i < width:
            if i + 1 < width and raster[y, i] == raster[y, i + 1]:
                j = i + 1
                while j < width and raster[y, j] == raster[y, i] and j - i < 128:
                    j += 1
                out[n] = j - i - 1
                out[n + 1] = raster[y, i]
                n += 2
            else:
                j = i + 1
                while j < width and j - i < 128 and not (j + 1 < width and raster[y, j] == raster[y, j + 1]):
                    j += 1
                if j - i == 1:
                    out[n] = 0
                    out[n + 1] = raster[y, i]
                    n += 2
                else:
                    out[n] = 257 - (j - i)
                    n += 1
                    for k in range(i, j):
                        out[n] = raster[y, k]
                        n += 1
            i = j
        y += repeat
    return out[:n].copy()
