"""Plain NumPy versions of the raster kernels in :mod:`tracking._kernels`.

They define what the kernels must compute: the tests require both to agree bit for bit. Slower, but short
enough to read as the specification.
"""

from __future__ import annotations

import numpy as np


def pack_bits(bitmap: np.ndarray) -> np.ndarray:
    """Pack a bool bitmap (True = dark) into PDF 1-bit rows: MSB first, 0 = dark, rows padded with light bits."""
    height, width = bitmap.shape
    padded = np.ones((height, -(-width // 8) * 8), dtype=bool)
    padded[:, :width] = ~bitmap
    return np.packbits(padded, axis=1, bitorder="big")


def scale_modules(matrix: np.ndarray, px_per_module: int, quiet_modules: int) -> np.ndarray:
    """Blow each module up to a ``px_per_module`` square and surround the symbol with a light quiet zone."""
    framed = np.pad(matrix.astype(bool), quiet_modules, constant_values=False)
    return np.repeat(np.repeat(framed, px_per_module, axis=0), px_per_module, axis=1)
