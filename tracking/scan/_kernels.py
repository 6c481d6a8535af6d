"""Numba kernels of the scan pre-processing path; :mod:`tracking.scan.preprocess` is their stable face.

Each computes exactly what its namesake in :mod:`tracking.scan._reference` computes (tests check bit for bit).
All arithmetic is integer (sums in int64, rotations in 16.16 fixed point), so the two agree exactly and the
result does not depend on floating-point summation order.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray


@njit(cache=True)
def integral(
    gray: NDArray[np.uint8],
) -> NDArray[np.int64]:  # pragma: no cover - compiled; covered through the reference comparison
    """Summed-area table with a zero first row and column: ``s[y, x]`` = sum of ``gray[:y, :x]``."""
    height, width = gray.shape
    out = np.zeros((height + 1, width + 1), dtype=np.int64)
    for y in range(height):
        run = np.int64(0)
        for x in range(width):
            run += gray[y, x]
            out[y + 1, x + 1] = out[y, x + 1] + run
    return out


@njit(cache=True)
def box_mean(gray: NDArray[np.uint8], radius: int) -> NDArray[np.uint8]:  # pragma: no cover - compiled
    """Mean over the (2r+1)² window around each pixel, clipped at the image edges, rounded down."""
    height, width = gray.shape
    s = integral(gray)
    out = np.empty((height, width), dtype=np.uint8)
    for y in range(height):
        y0 = max(0, y - radius)
        y1 = min(height, y + radius + 1)
        for x in range(width):
            x0 = max(0, x - radius)
            x1 = min(width, x + radius + 1)
            total = s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]
            out[y, x] = total // ((y1 - y0) * (x1 - x0))
    return out


@njit(cache=True)
def adaptive_dark(
    gray: NDArray[np.uint8], radius: int, offset: int
) -> NDArray[np.bool_]:  # pragma: no cover - compiled
    """Dark where a pixel is more than ``offset`` below the mean of its (2r+1)² window (clipped at the
    edges)."""
    height, width = gray.shape
    s = integral(gray)
    out = np.empty((height, width), dtype=np.bool_)
    for y in range(height):
        y0 = max(0, y - radius)
        y1 = min(height, y + radius + 1)
        for x in range(width):
            x0 = max(0, x - radius)
            x1 = min(width, x + radius + 1)
            total = s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]
            out[y, x] = (np.int64(gray[y, x]) + offset) * ((y1 - y0) * (x1 - x0)) < total
    return out


@njit(cache=True)
def orientation_moment(gray: NDArray[np.uint8]) -> tuple[np.int64, np.int64]:  # pragma: no cover - compiled
    """Sum of z⁴ over the interior, z = (central difference in x) + i·(central difference in y).

    The argument of the sum is four times the dominant edge direction modulo 90°: a square grid's edges all
    add up in it, whatever their polarity.
    """
    height, width = gray.shape
    re = np.int64(0)
    im = np.int64(0)
    for y in range(1, height - 1):
        for x in range(1, width - 1):
            gx = np.int64(gray[y, x + 1]) - np.int64(gray[y, x - 1])
            gy = np.int64(gray[y + 1, x]) - np.int64(gray[y - 1, x])
            a = gx * gx - gy * gy
            b = 2 * gx * gy
            re += a * a - b * b
            im += 2 * a * b
    return re, im


@njit(cache=True)
def rotate_nearest(
    gray: NDArray[np.uint8], cos_q16: int, sin_q16: int, fill: int
) -> NDArray[np.uint8]:  # pragma: no cover - compiled
    """Rotate about the centre ``(w // 2, h // 2)``, nearest neighbour, angles as 16.16 fixed-point cos and
    sin.

    Output pixel p takes the input pixel at R·(p − c) + c, so content skewed by the angle comes out upright;
    pixels from outside the input get ``fill``.
    """
    height, width = gray.shape
    cx = width // 2
    cy = height // 2
    out = np.empty((height, width), dtype=np.uint8)
    for y in range(height):
        dy = np.int64(y - cy)
        for x in range(width):
            dx = np.int64(x - cx)
            sx = ((cos_q16 * dx - sin_q16 * dy + 32768) >> 16) + cx
            sy = ((sin_q16 * dx + cos_q16 * dy + 32768) >> 16) + cy
            if 0 <= sx < width and 0 <= sy < height:
                out[y, x] = gray[sy, sx]
            else:
                out[y, x] = fill
    return out
