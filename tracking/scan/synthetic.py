"""Generated scans of pieces with known codes, for tests, benchmarks and trying the reader without a scanner.

The test double of the QA station's scanner: codes are rendered with the plant's own raster kernels onto a
paper-coloured page, which is then rotated, blurred and covered in Gaussian noise like a poor scan. The same
seed always gives the same image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from tracking.raster import Stamp, mm_to_px, render_symbol, stamp_gray
from tracking.scan.layout import CodeKind, Region

#: Width and height of a DL envelope (DIN 678), mm.
DL_SIZE_MM = (220.0, 110.0)
#: Gray level of blank paper in generated scans (a white envelope is not 100 % reflective).
PAPER_GRAY = 235
#: Gray level of printed ink in generated scans.
INK_GRAY = 25
#: Edge of a control DataMatrix module in generated scans (the plant's default control module), mm.
CONTROL_MODULE_MM = 0.5
#: Where the generated DL scans carry their control DataMatrix (top-left of its quiet zone), mm.
CONTROL_AT_MM = (150.0, 70.0)
#: The region a reader should search for it: the symbol plus 4 mm of play on every side for skew and shift.
CONTROL_REGION = Region(CodeKind.CONTROL, CONTROL_AT_MM[0] - 4, CONTROL_AT_MM[1] - 4, 22.0, 22.0)


@dataclass(frozen=True, slots=True)
class Degradation:
    """How poor a generated scan is: skew of the piece, optical blur and sensor noise."""

    #: Rotation of the piece on the scanner, degrees counter-clockwise.
    rotation_deg: float = 0.0
    #: Standard deviation of additive Gaussian noise, gray levels.
    noise_sigma: float = 0.0
    #: Radius of the Gaussian blur, pixels.
    blur_px: float = 0.0


#: The benchmark's moderate scan: 3° skew, noise σ 12, 1 px blur.
MODERATE = Degradation(3.0, 12.0, 1.0)
#: The benchmark's harsh scan: 3° skew, noise σ 30, 2 px blur (zxing-cpp alone reads a few per cent).
HARSH = Degradation(3.0, 30.0, 2.0)


def clean_page(
    size_mm: tuple[float, float], dpi: float, symbols: list[tuple[np.ndarray, float, float]]
) -> np.ndarray:
    """A paper-coloured 8-bit page ``size_mm`` large with bitmaps (rendered at ``dpi``) at (x_mm, y_mm)."""
    page = np.full((round(mm_to_px(size_mm[1], dpi)), round(mm_to_px(size_mm[0], dpi))), PAPER_GRAY, np.uint8)
    stamps = [Stamp(bitmap, round(mm_to_px(y, dpi)), round(mm_to_px(x, dpi))) for bitmap, x, y in symbols]
    return stamp_gray(page, stamps, ink=INK_GRAY, paper=PAPER_GRAY)


def degrade(page: np.ndarray, degradation: Degradation, seed: int) -> np.ndarray:
    """Rotate (about the page centre), blur and add noise to a clean page; the seed fixes the noise."""
    image = Image.fromarray(page)
    if degradation.rotation_deg:
        image = image.rotate(
            degradation.rotation_deg, resample=Image.Resampling.BILINEAR, fillcolor=PAPER_GRAY
        )
    if degradation.blur_px:
        image = image.filter(ImageFilter.GaussianBlur(degradation.blur_px))
    out = np.asarray(image, dtype=np.float32)
    if degradation.noise_sigma:
        noise = np.random.default_rng(seed).standard_normal(out.shape, dtype=np.float32)
        out = out + noise * np.float32(degradation.noise_sigma)
    scan: NDArray[np.uint8] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return scan


def dl_envelope_scan(
    control_text: str,
    dpi: float = 300,
    degradation: Degradation = Degradation(),
    seed: int = 0,
    extra: list[tuple[np.ndarray, float, float]] | None = None,
) -> np.ndarray:
    """A generated scan of a DL envelope with ``control_text`` as a DataMatrix at :data:`CONTROL_AT_MM`.

    ``extra`` adds more bitmaps (rendered at ``dpi``) at (x_mm, y_mm), e.g. a tracking Code 128 or a QR mark.
    """
    from tracking.symbols import datamatrix

    bitmap = render_symbol(datamatrix(control_text), dpi, CONTROL_MODULE_MM)
    page = clean_page(DL_SIZE_MM, dpi, [(bitmap, *CONTROL_AT_MM), *(extra or [])])
    return degrade(page, degradation, seed)
