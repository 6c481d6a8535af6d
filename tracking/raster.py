"""Stable raster functions over module matrices and bitmaps, backed by the Numba kernels.

The conventions are PDF's: in a packed 1-bit row a 0 bit is dark (what both a 1-bit ``/DeviceGray`` image and
an ``/ImageMask`` with the default ``/Decode [0 1]`` paint), bits run most significant first, and every row is
padded to a whole byte with light bits. Arrays use True = dark throughout.
"""

from __future__ import annotations

import numpy as np

from tracking import _kernels


def _as_bool_2d(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {array.ndim} dimension(s)")
    if array.dtype != np.bool_:
        raise ValueError(f"{name} must be a bool array (True = dark), got dtype {array.dtype}")
    return np.ascontiguousarray(array)


def pack_bits(bitmap: np.ndarray) -> np.ndarray:
    """Pack a bool bitmap (True = dark) into a ``(height, ceil(width / 8))`` uint8 array of PDF 1-bit rows.

    ``pack_bits(b).tobytes()`` is the stream data of a 1-bit image ``b.shape[1]`` wide and ``b.shape[0]`` high.
    """
    return _kernels.pack_bits(_as_bool_2d(bitmap, "bitmap"))


def scale_modules(matrix: np.ndarray, px_per_module: int, quiet_modules: int) -> np.ndarray:
    """Turn a module matrix into a bitmap: each module ``px_per_module`` pixels square, ``quiet_modules`` light modules around."""
    if px_per_module < 1:
        raise ValueError(f"px_per_module must be at least 1, got {px_per_module}")
    if quiet_modules < 0:
        raise ValueError(f"quiet_modules must not be negative, got {quiet_modules}")
    return _kernels.scale_modules(_as_bool_2d(matrix, "matrix"), int(px_per_module), int(quiet_modules))
