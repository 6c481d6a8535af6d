"""Pre-processing of poor scans before a second read: denoise, adaptive binarisation, deskew.

Stable functions over the Numba kernels in :mod:`tracking.scan._kernels`. The reader only takes this path when
the plain read of a region failed, because zxing-cpp's own binariser is faster and good enough on fair scans.
Window sizes follow the expected module size: noise is averaged over about a third of a module and the
threshold is the mean of a window about 2.7 modules wide, so a dark module is compared with its surroundings,
not with the paper far away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracking.errors import ScanError
from tracking.scan import _kernels

#: Denoising window radius as a fraction of the module size (a 5 × 5 mean for 0.5 mm modules at 300 dpi).
DENOISE_RADIUS_MODULES = 1 / 3
#: Binarisation window radius in modules (a 17 × 17 window for 0.5 mm modules at 300 dpi).
WINDOW_RADIUS_MODULES = 1.35
#: How far below its local mean (gray levels) a pixel must be to count as dark; keeps paper noise light.
DARK_OFFSET = 10
#: Skew below which deskewing is skipped: rotating by less costs sharpness and gains nothing.
MIN_DESKEW_DEG = 0.5
#: Fixed-point scale of the rotation kernel's cos and sin (16.16).
_Q16 = 1 << 16


@dataclass(frozen=True, slots=True)
class Preprocessing:
    """Window sizes of one pre-processing attempt, in device pixels, and whether to deskew first."""

    denoise_radius: int
    window_radius: int
    offset: int = DARK_OFFSET
    deskew: bool = False

    @classmethod
    def for_module(
        cls, module_px: float, *, deskew: bool = False, window_modules: float = WINDOW_RADIUS_MODULES
    ) -> Preprocessing:
        """The attempt suited to modules ``module_px`` pixels wide."""
        if module_px <= 0:
            raise ScanError("module size", module_px, "must be positive (pixels)")
        return cls(
            max(0, round(module_px * DENOISE_RADIUS_MODULES)),
            max(1, round(module_px * window_modules)),
            deskew=deskew,
        )


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ScanError("image", f"{image.dtype}{image.shape}", "must be a 2-D uint8 gray image")
    return np.ascontiguousarray(image)


def denoise(gray: np.ndarray, radius: int) -> np.ndarray:
    """Box-filter ``gray`` with a (2r+1)² window (edges clipped); radius 0 returns it unchanged."""
    return _kernels.box_mean(_gray(gray), int(radius)) if radius > 0 else _gray(gray)


def binarize(gray: np.ndarray, radius: int, offset: int = DARK_OFFSET) -> np.ndarray:
    """Adaptive threshold: True (dark) where a pixel is more than ``offset`` below its local mean."""
    return _kernels.adaptive_dark(_gray(gray), int(radius), int(offset))


def skew_deg(gray: np.ndarray) -> float:
    """Dominant edge direction modulo 90°, in degrees within [−45°, 45°): the skew of a grid-like code.

    Positive when the content is turned clockwise on screen (x right, y down); pass a denoised image, noise
    gradients otherwise dilute the estimate.
    """
    re, im = _kernels.orientation_moment(_gray(gray))
    return math.degrees(math.atan2(im, re) / 4) if re or im else 0.0


def rotate(gray: np.ndarray, angle_deg: float, fill: int = 255) -> np.ndarray:
    """Turn the image content by ``-angle_deg`` about its centre (nearest neighbour): undoes a skew of
    ``angle_deg``."""
    rad = math.radians(angle_deg)
    return _kernels.rotate_nearest(
        _gray(gray), round(math.cos(rad) * _Q16), round(math.sin(rad) * _Q16), int(fill)
    )


def deskew(gray: np.ndarray) -> np.ndarray:
    """Estimate the skew and rotate it away (a no-op below :data:`MIN_DESKEW_DEG`)."""
    angle = skew_deg(gray)
    return rotate(gray, angle) if abs(angle) >= MIN_DESKEW_DEG else _gray(gray)


def light_mask(gray: np.ndarray, attempt: Preprocessing) -> np.ndarray:
    """Run one attempt: denoise, optionally deskew, binarise; return a uint8 image, 1 = light, 0 = dark.

    That is the form zxing-cpp's ``Binarizer.BoolCast`` reads without binarising again.
    """
    smooth = denoise(gray, attempt.denoise_radius)
    if attempt.deskew:
        smooth = deskew(smooth)
    return (~binarize(smooth, attempt.window_radius, attempt.offset)).view(np.uint8)
