"""DataMatrix ECC200 structure the grader needs: symbol sizes, error-correction blocks, and module placement.

The placement follows ISO/IEC 16022 Annex F (the "utah" layout): it says which bit of which codeword each
module of the data region holds. The grader uses it to grade codewords rather than loose modules, as
ISO/IEC 15415 does for modulation and unused error correction. Only the square sizes are listed: the plant
prints square symbols.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from tracking.errors import ScanError


@dataclass(frozen=True, slots=True)
class SymbolSize:
    """One square ECC200 size: ``size`` modules a side, ``regions`` data regions a side, codeword counts."""

    size: int
    regions: int
    data_codewords: int
    ec_codewords: int
    blocks: int

    @property
    def region_size(self) -> int:
        """Modules a side of one data region (without its finder and clock pattern)."""
        return self.size // self.regions - 2


#: Square ECC200 sizes (ISO/IEC 16022 Table 7): size → regions a side, data codewords, EC codewords, blocks.
SIZES = {
    s.size: s
    for s in (
        SymbolSize(10, 1, 3, 5, 1),
        SymbolSize(12, 1, 5, 7, 1),
        SymbolSize(14, 1, 8, 10, 1),
        SymbolSize(16, 1, 12, 12, 1),
        SymbolSize(18, 1, 18, 14, 1),
        SymbolSize(20, 1, 22, 18, 1),
        SymbolSize(22, 1, 30, 20, 1),
        SymbolSize(24, 1, 36, 24, 1),
        SymbolSize(26, 1, 44, 28, 1),
        SymbolSize(32, 2, 62, 36, 1),
        SymbolSize(36, 2, 86, 42, 1),
        SymbolSize(40, 2, 114, 48, 1),
        SymbolSize(44, 2, 144, 56, 1),
        SymbolSize(48, 2, 174, 68, 1),
        SymbolSize(52, 2, 204, 84, 2),
        SymbolSize(64, 4, 280, 112, 2),
        SymbolSize(72, 4, 368, 144, 4),
        SymbolSize(80, 4, 456, 192, 4),
        SymbolSize(88, 4, 576, 224, 4),
        SymbolSize(96, 4, 696, 272, 4),
        SymbolSize(104, 4, 816, 336, 6),
        SymbolSize(120, 6, 1050, 408, 6),
        SymbolSize(132, 6, 1304, 496, 8),
        SymbolSize(144, 6, 1558, 620, 10),
    )
}


def symbol_size(size: int) -> SymbolSize:
    """The ECC200 square size with ``size`` modules a side; :class:`ScanError` for any other."""
    try:
        return SIZES[size]
    except KeyError:
        raise ScanError("DataMatrix size", size, "is not a square ECC200 size (10, 12, …, 144)") from None


def _placement(nrow: int, ncol: int) -> np.ndarray:
    """ISO/IEC 16022 Annex F over the mapping matrix: ``8·codeword + bit`` per module (bit 0 = MSB), −1
    unused."""
    array = np.full((nrow, ncol), -1, dtype=np.int64)

    def module(row: int, col: int, chr_: int, bit: int) -> None:
        if row < 0:
            row += nrow
            col += 4 - ((nrow + 4) % 8)
        if col < 0:
            col += ncol
            row += 4 - ((ncol + 4) % 8)
        array[row, col] = 8 * chr_ + bit

    def utah(row: int, col: int, chr_: int) -> None:
        for bit, (dr, dc) in enumerate(
            ((-2, -2), (-2, -1), (-1, -2), (-1, -1), (-1, 0), (0, -2), (0, -1), (0, 0))
        ):
            module(row + dr, col + dc, chr_, bit)

    def corner(cells: tuple[tuple[int, int], ...], chr_: int) -> None:
        for bit, (r, c) in enumerate(cells):
            module(r, c, chr_, bit)

    n, m = nrow, ncol
    corners = {
        1: ((n - 1, 0), (n - 1, 1), (n - 1, 2), (0, m - 2), (0, m - 1), (1, m - 1), (2, m - 1), (3, m - 1)),
        2: ((n - 3, 0), (n - 2, 0), (n - 1, 0), (0, m - 4), (0, m - 3), (0, m - 2), (0, m - 1), (1, m - 1)),
        3: ((n - 3, 0), (n - 2, 0), (n - 1, 0), (0, m - 2), (0, m - 1), (1, m - 1), (2, m - 1), (3, m - 1)),
        4: (
            (n - 1, 0),
            (n - 1, m - 1),
            (0, m - 3),
            (0, m - 2),
            (0, m - 1),
            (1, m - 3),
            (1, m - 2),
            (1, m - 1),
        ),
    }
    chr_, row, col = 0, 4, 0
    while True:
        if row == n and col == 0:
            corner(corners[1], chr_)
            chr_ += 1
        if row == n - 2 and col == 0 and m % 4:
            corner(corners[2], chr_)
            chr_ += 1
        if row == n - 2 and col == 0 and m % 8 == 4:
            corner(corners[3], chr_)
            chr_ += 1
        if row == n + 4 and col == 2 and not m % 8:
            corner(corners[4], chr_)
            chr_ += 1
        while True:
            if row < n and col >= 0 and array[row, col] < 0:
                utah(row, col, chr_)
                chr_ += 1
            row, col = row - 2, col + 2
            if not (row >= 0 and col < m):
                break
        row, col = row + 1, col + 3
        while True:
            if row >= 0 and col < m and array[row, col] < 0:
                utah(row, col, chr_)
                chr_ += 1
            row, col = row + 2, col - 2
            if not (row < n and col >= 0):
                break
        row, col = row + 3, col + 1
        if not (row < n or col < m):
            break
    return array


@cache
def codeword_map(size: int) -> np.ndarray:
    """For a ``size``-module square symbol: the codeword index (0-based) of every module, −1 for fixed
    patterns.

    Finder and clock patterns, and the unused corner of some sizes, are −1.
    """
    spec = symbol_size(size)
    rs = spec.region_size
    mapping = _placement(rs * spec.regions, rs * spec.regions) // 8
    out = np.full((size, size), -1, dtype=np.int64)
    for ri in range(spec.regions):
        for ci in range(spec.regions):
            block = mapping[ri * rs : (ri + 1) * rs, ci * rs : (ci + 1) * rs]
            out[ri * (rs + 2) + 1 : ri * (rs + 2) + 1 + rs, ci * (rs + 2) + 1 : ci * (rs + 2) + 1 + rs] = (
                block
            )
    out.flags.writeable = False
    return out


def block_of(size: int) -> np.ndarray:
    """The interleaved Reed–Solomon block of every codeword of a ``size`` symbol (codeword i → block i mod
    n)."""
    spec = symbol_size(size)
    index = np.arange(spec.data_codewords + spec.ec_codewords)
    return np.where(index < spec.data_codewords, index, index - spec.data_codewords) % spec.blocks


def finder_pattern(size: int) -> np.ndarray:
    """The fixed modules of an upright symbol (True = dark) where :func:`codeword_map` is −1 at region
    borders.

    Each data region has a solid L on its left and bottom side and an alternating clock track on its top side
    (dark at its left end) and its right side (dark at its bottom end).
    """
    spec = symbol_size(size)
    step = spec.size // spec.regions
    out = np.zeros((size, size), dtype=bool)
    for k in range(spec.regions):
        top, bottom = k * step, k * step + step - 1
        out[top, 0::2], out[top, 1::2] = True, False
        out[0::2, bottom], out[1::2, bottom] = False, True
    for k in range(spec.regions):
        out[:, k * step] = True
        out[k * step + step - 1, :] = True
    return out


def pattern_mask(size: int) -> np.ndarray:
    """True on the modules of the finder and clock patterns (every data region's border)."""
    step = size // symbol_size(size).regions
    edge = np.isin(np.arange(size) % step, (0, step - 1))
    return edge[:, None] | edge[None, :]
