"""Plain NumPy versions of the raster kernels in :mod:`tracking._kernels`.

They define what the kernels must compute: the tests require both to agree bit for bit. Slower, but short
enough to read as the specification.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def pack_bits(bitmap: np.ndarray) -> np.ndarray:
    """Pack a bool bitmap (True = dark) into PDF 1-bit rows: MSB first, 0 = dark, rows padded with light
    bits."""
    height, width = bitmap.shape
    padded = np.ones((height, -(-width // 8) * 8), dtype=bool)
    padded[:, :width] = ~bitmap
    return np.packbits(padded, axis=1, bitorder="big")


def scale_modules(matrix: np.ndarray, px_per_module: int, quiet_modules: int) -> np.ndarray:
    """Blow each module up to a ``px_per_module`` square and surround the symbol with a light quiet zone."""
    framed = np.pad(matrix.astype(bool), quiet_modules, constant_values=False)
    return np.repeat(np.repeat(framed, px_per_module, axis=0), px_per_module, axis=1)


def module_edges(count: int, module_px: float) -> np.ndarray:
    """Device-pixel coordinates of the ``count + 1`` module edges: edge k at
    ``floor(k · module_px + 0.5)``."""
    edges: NDArray[np.int64] = np.floor(np.arange(count + 1) * module_px + 0.5).astype(np.int64)
    return edges


def render_modules(
    matrix: np.ndarray, module_w: float, module_h: float, quiet_x: int, quiet_y: int, reduction: int
) -> np.ndarray:
    """Render modules at rounded device edges; dark modules shrink by ``reduction`` px on sides facing light.

    The reduction is split ``reduction // 2`` on the left/top side and the rest on the right/bottom side.
    """
    rows, cols = matrix.shape
    xe = module_edges(cols + 2 * quiet_x, module_w)
    ye = module_edges(rows + 2 * quiet_y, module_h)
    lo, hi = reduction // 2, reduction - reduction // 2
    framed = np.pad(matrix.astype(bool), 1, constant_values=False)
    dark = framed[1:-1, 1:-1]
    x0 = xe[quiet_x : quiet_x + cols][None, :] + np.where(~framed[1:-1, :-2] & dark, lo, 0)
    x1 = xe[quiet_x + 1 : quiet_x + cols + 1][None, :] - np.where(~framed[1:-1, 2:] & dark, hi, 0)
    y0 = ye[quiet_y : quiet_y + rows][:, None] + np.where(~framed[:-2, 1:-1] & dark, lo, 0)
    y1 = ye[quiet_y + 1 : quiet_y + rows + 1][:, None] - np.where(~framed[2:, 1:-1] & dark, hi, 0)
    out = np.zeros((ye[-1], xe[-1]), dtype=bool)
    for r, c in zip(*np.nonzero(dark), strict=True):
        out[y0[r, c] : max(y0[r, c], y1[r, c]), x0[r, c] : max(x0[r, c], x1[r, c])] = True
    return out


def stamp_gray(
    page: np.ndarray,
    flat: np.ndarray,
    shapes: np.ndarray,
    starts: np.ndarray,
    positions: np.ndarray,
    dark: int,
    light: int,
) -> None:
    """Paint bitmaps opaquely into an 8-bit page in place (``dark`` where True, ``light`` elsewhere),
    clipped."""
    for (h, w), start, (top, left) in zip(shapes, starts, positions, strict=True):
        bitmap = flat[start : start + h * w].reshape(h, w)
        y0, x0 = max(0, -top), max(0, -left)
        y1, x1 = min(h, page.shape[0] - top), min(w, page.shape[1] - left)
        if y1 > y0 and x1 > x0:
            page[top + y0 : top + y1, left + x0 : left + x1] = np.where(bitmap[y0:y1, x0:x1], dark, light)


def stamp_packed(
    packed: np.ndarray,
    width: int,
    flat: np.ndarray,
    shapes: np.ndarray,
    starts: np.ndarray,
    positions: np.ndarray,
) -> None:
    """Paint bitmaps opaquely into a packed 1-bit page (0 = dark, MSB first) in place; padding bits
    untouched."""
    light = np.unpackbits(packed, axis=1).astype(bool)
    stamp_gray(light[:, :width], flat, shapes, starts, positions, False, True)
    packed[...] = np.packbits(light, axis=1)


def threshold_pack(gray: np.ndarray, threshold: int) -> np.ndarray:
    """Threshold an 8-bit page (dark where ``value < threshold``) into PDF 1-bit rows."""
    return pack_bits(gray < threshold)
