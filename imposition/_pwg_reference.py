"""Plain Python/NumPy PWG raster line encoder: the specification the Numba kernel in
:mod:`imposition._pwg_kernels` must match byte for byte (tests check). Slow; short enough to read.

PWG 5102.4 §4.3 (the CUPS raster v2 scheme): a page is a series of line groups, each one byte "repeat count"
(identical lines after the first, 0–255) followed by the line's runs. A run byte 0–127 repeats the next pixel
value+1 times; 129–255 copies the next 257−value pixels literally (2–128 of them). Pixels here are one byte
(8-bit grey).
"""

from __future__ import annotations

import numpy as np

#: Longest run or literal sequence one control byte describes.
MAX_RUN = 128
#: Most lines one repeat byte covers (itself and 255 copies).
MAX_LINES = 256


def encode_line(line: np.ndarray) -> bytes:
    """The runs of one line of 8-bit pixels."""
    pixels = line.tolist()
    width, out, i = len(pixels), bytearray(), 0
    while i < width:
        if i + 1 < width and pixels[i] == pixels[i + 1]:
            j = i + 1
            while j < width and pixels[j] == pixels[i] and j - i < MAX_RUN:
                j += 1
            out += bytes([j - i - 1, pixels[i]])
        else:
            j = i + 1
            while j < width and j - i < MAX_RUN and not (j + 1 < width and pixels[j] == pixels[j + 1]):
                j += 1
            if j - i == 1:
                out += bytes([0, pixels[i]])
            else:
                out += bytes([257 - (j - i)]) + bytes(pixels[i:j])
        i = j
    return bytes(out)


def encode_page(raster: np.ndarray) -> bytes:
    """The compressed data of one page (``raster``: height × width uint8, one byte per pixel)."""
    out, y, height = bytearray(), 0, raster.shape[0]
    while y < height:
        repeat = 1
        while y + repeat < height and repeat < MAX_LINES and np.array_equal(raster[y + repeat], raster[y]):
            repeat += 1
        out.append(repeat - 1)
        out += encode_line(raster[y])
        y += repeat
    return bytes(out)
