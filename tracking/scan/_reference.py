"""Plain NumPy versions of the scan pre-processing kernels in :mod:`tracking.scan._kernels`.

They define what the kernels must compute; the tests require both to agree bit for bit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def integral(gray: np.ndarray) -> np.ndarray:
    """Summed-area table with a zero first row and column: ``s[y, x]`` = sum of ``gray[:y, :x]``."""
    out = np.zeros((gray.shape[0] + 1, gray.shape[1] + 1), dtype=np.int64)
    out[1:, 1:] = gray.astype(np.int64).cumsum(axis=0).cumsum(axis=1)
    return out


def _window_sums(gray: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum and pixel count of the (2r+1)² window around each pixel, clipped at the image edges."""
    height, width = gray.shape
    s = integral(gray)
    y0 = np.clip(np.arange(height) - radius, 0, height)[:, None]
    y1 = np.clip(np.arange(height) + radius + 1, 0, height)[:, None]
    x0 = np.clip(np.arange(width) - radius, 0, width)[None, :]
    x1 = np.clip(np.arange(width) + radius + 1, 0, width)[None, :]
    return s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0], (y1 - y0) * (x1 - x0)


def box_mean(gray: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1)² window around each pixel, clipped at the image edges, rounded down."""
    total, count = _window_sums(gray, radius)
    mean: NDArray[np.uint8] = (total // count).astype(np.uint8)
    return mean


def adaptive_dark(gray: np.ndarray, radius: int, offset: int) -> np.ndarray:
    """Dark where a pixel is more than ``offset`` below the mean of its (2r+1)² window (clipped at the
    edges)."""
    total, count = _window_sums(gray, radius)
    dark: NDArray[np.bool_] = (gray.astype(np.int64) + offset) * count < total
    return dark


def orientation_moment(gray: np.ndarray) -> tuple[int, int]:
    """Sum of z⁴ over the interior, z = (central difference in x) + i·(central difference in y)."""
    g = gray.astype(np.int64)
    gx = g[1:-1, 2:] - g[1:-1, :-2]
    gy = g[2:, 1:-1] - g[:-2, 1:-1]
    a, b = gx * gx - gy * gy, 2 * gx * gy
    return int((a * a - b * b).sum()), int((2 * a * b).sum())


def rotate_nearest(gray: np.ndarray, cos_q16: int, sin_q16: int, fill: int) -> np.ndarray:
    """Rotate about ``(w // 2, h // 2)``, nearest neighbour, with 16.16 fixed-point cos and sin."""
    height, width = gray.shape
    dy = (np.arange(height, dtype=np.int64) - height // 2)[:, None]
    dx = (np.arange(width, dtype=np.int64) - width // 2)[None, :]
    sx = ((cos_q16 * dx - sin_q16 * dy + 32768) >> 16) + width // 2
    sy = ((sin_q16 * dx + cos_q16 * dy + 32768) >> 16) + height // 2
    inside = (sx >= 0) & (sx < width) & (sy >= 0) & (sy < height)
    out = np.full((height, width), fill, dtype=np.uint8)
    out[inside] = gray[sy[inside], sx[inside]]
    return out
