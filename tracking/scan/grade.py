"""ISO/IEC 15415-style print quality grading of a decoded DataMatrix from a gray scan.

The grader fits the module grid to the symbol's own finder, clock-track and quiet-zone edges (on a smoothed
copy; the decoder's corners are only the starting point), samples the raw scan's reflectance at every module
centre through a round synthetic aperture 0.8 module wide, then computes symbol contrast, modulation (graded
per codeword, with low codewords counted as erasures), axial and grid non-uniformity and unused error
correction, and grades each A–F by the thresholds in ``REFERENCE.md``. The overall grade is the lowest; a
symbol that does not decode is F. docs/qa.md lists where this departs from the standard.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike

from tracking.errors import ScanError, SymbolError
from tracking.scan import ecc200

#: Synthetic aperture diameter as a fraction of the module size (ISO/IEC 15415 uses 0.8 X for small X).
APERTURE_MODULES = 0.8


class Grade(IntEnum):
    """ISO/IEC 15415 letter grades as numbers 4 (A) … 0 (F), so the lowest is ``min``."""

    F = 0
    D = 1
    C = 2
    B = 3
    A = 4


#: Lower bounds of B..A (ascending by grade): a value at or above bound k earns grade k + 1 (D, C, B, A).
_AT_LEAST = {
    "symbol_contrast": (0.20, 0.40, 0.55, 0.70),
    "modulation": (0.20, 0.30, 0.40, 0.50),
    "unused_error_correction": (0.25, 0.37, 0.50, 0.62),
}
#: Upper bounds for D..A of the parameters where smaller is better.
_AT_MOST = {
    "axial_nonuniformity": (0.12, 0.10, 0.08, 0.06),
    "grid_nonuniformity": (0.75, 0.63, 0.50, 0.38),
}


def grade_value(parameter: str, value: float) -> Grade:
    """The grade of one parameter's measured value (names as in :class:`Grading`)."""
    if parameter in _AT_LEAST:
        return Grade(sum(value >= bound for bound in _AT_LEAST[parameter]))
    if parameter in _AT_MOST:
        return Grade(sum(value <= bound for bound in _AT_MOST[parameter]))
    raise ScanError("grading parameter", parameter, f"is not one of {sorted(_AT_LEAST) + sorted(_AT_MOST)}")


@dataclass(frozen=True, slots=True)
class Measure:
    """One graded parameter: its measured value and grade."""

    value: float
    grade: Grade


@dataclass(frozen=True, slots=True)
class Grading:
    """The graded parameters of one symbol and the overall grade (the lowest of them)."""

    symbol_contrast: Measure
    modulation: Measure
    axial_nonuniformity: Measure
    grid_nonuniformity: Measure
    unused_error_correction: Measure

    @property
    def overall(self) -> Grade:
        """The lowest parameter grade."""
        return min(
            m.grade
            for m in (
                self.symbol_contrast,
                self.modulation,
                self.axial_nonuniformity,
                self.grid_nonuniformity,
                self.unused_error_correction,
            )
        )

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON: each parameter's value and letter, and the overall letter."""
        out: dict[str, object] = {
            name: {"value": round(getattr(self, name).value, 3), "grade": getattr(self, name).grade.name}
            for name in self.__slots__
        }
        out["overall"] = self.overall.name
        return out


def _grid(corners: np.ndarray, u: np.ndarray, v: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (x, y) of module coordinates (u, v) on the bilinear grid spanned by the symbol's outer
    corners."""
    s, t = (u / n)[..., None], (v / n)[..., None]
    tl, tr, br, bl = corners
    point = (1 - s) * (1 - t) * tl + s * (1 - t) * tr + s * t * br + (1 - s) * t * bl
    return point[..., 0], point[..., 1]


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray, fill: float) -> np.ndarray:
    """``image`` (float) interpolated bilinearly at (x, y); points off the image read ``fill``."""
    h, w = image.shape
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    out = np.zeros(np.broadcast(x, y).shape)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            px, py = x0 + dx, y0 + dy
            valid = (px >= 0) & (px < w) & (py >= 0) & (py < h)
            out += wx * wy * np.where(valid, image[np.clip(py, 0, h - 1), np.clip(px, 0, w - 1)], fill)
    return out


#: Spacing (px) of the sub-pixel points that make up a synthetic aperture.
_APERTURE_STEP = 0.5


def _sample(gray: np.ndarray, x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """Mean reflectance (0–1) over a disc of ``radius`` px around each (x, y), the disc's area covered by
    sub-pixel points on a half-pixel lattice read bilinearly (so a centre between pixels is measured where it
    is, not at the nearest pixel); pixels off the image count as paper."""
    radius = max(radius, 0.5)
    r = np.ceil(radius / _APERTURE_STEP) * _APERTURE_STEP
    dy, dx = np.mgrid[
        -r : r + _APERTURE_STEP / 2 : _APERTURE_STEP, -r : r + _APERTURE_STEP / 2 : _APERTURE_STEP
    ]
    inside = dx * dx + dy * dy <= radius * radius
    dx, dy = dx[inside], dy[inside]
    values = _bilinear(
        np.asarray(gray, dtype=np.float64),
        np.asarray(x, float)[..., None] + dx,
        np.asarray(y, float)[..., None] + dy,
        255.0,
    )
    mean: np.ndarray = values.mean(axis=-1) / 255.0
    return mean


#: Gaussian smoothing of the image the grid is fitted on, in modules (σ); the measurement itself uses the raw
#: image.
FIT_SMOOTH_MODULES = 0.25
#: Gauss–Newton iterations of the grid fit, and the largest corner move per iteration (modules).
_FIT_ITERATIONS = 12
_FIT_MAX_STEP = 0.25


def _smooth(gray: np.ndarray, corners: np.ndarray, module: float) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian-smoothed float crop of ``gray`` around the symbol (three modules of margin) and its (x, y)
    origin."""
    margin = 3 * module
    left = max(0, int(np.floor(corners[:, 0].min() - margin)))
    top = max(0, int(np.floor(corners[:, 1].min() - margin)))
    right = min(gray.shape[1], int(np.ceil(corners[:, 0].max() + margin)) + 1)
    bottom = min(gray.shape[0], int(np.ceil(corners[:, 1].max() + margin)) + 1)
    crop = np.asarray(gray[top:bottom, left:right], dtype=np.float64)
    sigma = FIT_SMOOTH_MODULES * module
    r = max(1, int(np.ceil(3 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(crop, r, mode="edge")
    rows = np.apply_along_axis(np.convolve, 1, padded, kernel, mode="valid")
    smooth = np.apply_along_axis(np.convolve, 0, rows, kernel, mode="valid")
    return smooth, np.array([left, top], dtype=float)


def _edge_points(expected: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Module coordinates (u, v) of the middle of every edge between a known dark and a known light module.

    ``expected``/``known`` cover the symbol and its quiet-zone ring ((n+2)² modules, ring index a ↔ centre a −
    ½).
    """
    us: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    horizontal = known[:, :-1] & known[:, 1:] & (expected[:, :-1] != expected[:, 1:])
    b, a = np.nonzero(horizontal)
    us.append(a.astype(float) + 0.0)  # the edge between ring columns a and a+1 lies at u = a
    vs.append(b - 0.5)
    vertical = known[:-1, :] & known[1:, :] & (expected[:-1, :] != expected[1:, :])
    b, a = np.nonzero(vertical)
    us.append(a - 0.5)
    vs.append(b.astype(float))
    return np.concatenate(us), np.concatenate(vs)


def _fit_grid(gray: np.ndarray, corners: np.ndarray, n: int, turns: int, module: float) -> np.ndarray:
    """The four outer corners refined so that the finder, clock-track and quiet-zone edges of the grid lie
    where the smoothed image crosses the mid level between ink and paper.

    ISO/IEC 15415 locates the grid from the symbol's own fixed patterns (the reference decode); the decoder's
    corners, found on a noisy image, drift by a pixel or more. The grid is the bilinear map of the four
    corners; Gauss–Newton moves the corners (8 unknowns) to minimise Σ (I_smooth(edge point) − mid)² over the
    middles of all dark/light edges of the L finder, the clock tracks and the quiet zone. A fit that does not
    lower the residual, or that strays more than a module from the decoder's corners, is discarded.
    """
    smooth, origin = _smooth(gray, corners, module)
    local = corners - origin
    upright = ecc200.finder_pattern(n)
    expected = np.zeros((n + 2, n + 2), dtype=bool)
    known = np.ones((n + 2, n + 2), dtype=bool)
    expected[1:-1, 1:-1] = np.rot90(upright, -turns)
    known[1:-1, 1:-1] = np.rot90(ecc200.pattern_mask(n), -turns)
    u, v = _edge_points(expected, known)
    # The mid level from the coarse grid: dark finder modules and light quiet-zone modules.
    cv, cu = np.mgrid[-1 : n + 1, -1 : n + 1] + 0.5
    cx, cy = _grid(local, cu, cv, n)
    levels = _bilinear(smooth, cx, cy, 255.0)
    dark_level = np.median(levels[known & expected])
    light_level = np.median(levels[~expected & known])
    mid = (dark_level + light_level) / 2
    s, t = u / n, v / n
    weights = np.stack([(1 - s) * (1 - t), s * (1 - t), s * t, (1 - s) * t], axis=1)  # tl, tr, br, bl
    gy, gx = np.gradient(smooth)

    def cost(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y = _grid(c, u, v, n)
        return _bilinear(smooth, x, y, 255.0) - mid, x, y

    best = local.copy()
    residual, x, y = cost(best)
    best_cost = float(residual @ residual)
    start_cost = best_cost
    damping = 1e-3
    for _ in range(_FIT_ITERATIONS):
        ix, iy = _bilinear(gx, x, y, 0.0), _bilinear(gy, x, y, 0.0)
        jac = np.concatenate(
            [weights * ix[:, None], weights * iy[:, None]], axis=1
        )  # columns: x of 4 corners, y of 4
        normal = jac.T @ jac
        step = -np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-9), jac.T @ residual)
        step *= min(1.0, _FIT_MAX_STEP * module / max(np.abs(step).max(), 1e-12))
        trial = best + np.stack([step[:4], step[4:]], axis=1)
        trial_residual, tx, ty = cost(trial)
        trial_cost = float(trial_residual @ trial_residual)
        if trial_cost < best_cost:
            best, residual, x, y, best_cost = trial, trial_residual, tx, ty, trial_cost
            damping = max(damping / 3, 1e-6)
        else:
            damping *= 10
    if best_cost >= start_cost or np.abs(best - local).max() > module:
        return corners
    refined: np.ndarray = best + origin
    return refined


def _orient(dark: np.ndarray, n: int) -> int:
    """The number of quarter turns (np.rot90) that bring the sampled symbol upright (L at left and bottom)."""
    mask, pattern = ecc200.pattern_mask(n), ecc200.finder_pattern(n)
    scores = [np.count_nonzero(np.rot90(dark, k)[mask] == pattern[mask]) for k in range(4)]
    return int(np.argmax(scores))


def _edge_deviation(profile: np.ndarray, positions: np.ndarray, threshold: float, spacing: float) -> float:
    """Largest distance (px) between a threshold crossing of ``profile`` and the nearest expected module
    edge."""
    above = profile > threshold
    k = np.nonzero(above[1:] != above[:-1])[0]
    if k.size == 0:
        return 0.0
    frac = (threshold - profile[k]) / (profile[k + 1] - profile[k])
    crossings = positions[k] + frac * (positions[k + 1] - positions[k])
    nearest = np.rint(crossings / spacing) * spacing
    return float(np.max(np.abs(crossings - nearest)))


def _unused_ec(wrong: np.ndarray, erased: np.ndarray, size: int) -> float:
    """ISO UEC = 1 − (2E + S)/d, worst block: E codewords in error, S erasures, d EC codewords of the
    block."""
    spec = ecc200.symbol_size(size)
    blocks = ecc200.block_of(size)
    d = spec.ec_codewords / spec.blocks
    worst = 1.0
    for b in range(spec.blocks):
        e = np.count_nonzero(wrong[blocks == b] & ~erased[blocks == b])
        s = np.count_nonzero(erased[blocks == b])
        worst = min(worst, 1 - (2 * e + s) / d)
    return max(0.0, worst)


def grade_datamatrix(
    gray: np.ndarray,
    corners: ArrayLike,
    size: int,
    text: str | None = None,
    decoder_uec: float | None = None,
    *,
    fit_grid: bool = True,
) -> Grading:
    """Grade a decoded DataMatrix in an 8-bit gray scan (255 = 100 % reflectance).

    ``corners`` are the symbol's outer corners (top-left, top-right, bottom-right, bottom-left in the image,
    as zxing-cpp reports them), ``size`` the modules a side (the decoder's version). With the decoded ``text``
    the ideal symbol is re-encoded (libzint; the plant's own encoder) and codewords in error are counted
    against it; when the re-encoding does not match the scan (another encoder's choices), the decoder's own
    ``decoder_uec`` is used for unused error correction instead. ``fit_grid=False`` measures on the decoder's
    corners as they are (no fit to the fixed patterns).
    """
    corner_array = np.asarray(corners, dtype=float).reshape(4, 2)
    side = np.mean([np.hypot(*(corner_array[i] - corner_array[(i + 1) % 4])) for i in range(4)])
    n = ecc200.symbol_size(size).size
    module = side / n
    # Centres of the symbol's modules and of the quiet-zone ring around it.
    v, u = np.mgrid[-1 : n + 1, -1 : n + 1] + 0.5
    x, y = _grid(corner_array, u, v, n)
    reflectance = _sample(gray, x, y, APERTURE_MODULES * module / 2)
    r_max, r_min = float(reflectance.max()), float(reflectance.min())
    contrast = r_max - r_min
    threshold = (r_max + r_min) / 2
    inner = reflectance[1:-1, 1:-1]
    turns = _orient(inner < threshold, n)
    if fit_grid:
        corner_array = _fit_grid(gray, corner_array, n, turns, module)
        x, y = _grid(corner_array, u, v, n)
        reflectance = _sample(gray, x, y, APERTURE_MODULES * module / 2)
        r_max, r_min = float(reflectance.max()), float(reflectance.min())
        contrast = r_max - r_min
        threshold = (r_max + r_min) / 2
        inner = reflectance[1:-1, 1:-1]
    inner = np.rot90(inner, turns)
    dark = inner < threshold
    ideal = _ideal(text, n, dark)
    codewords = ecc200.codeword_map(n)
    total = codewords.max() + 1
    modulation = np.where(dark == ideal, 2 * np.abs(inner - threshold) / max(contrast, 1e-9), 0.0)
    module_grades = np.vectorize(lambda m: int(grade_value("modulation", m)))(modulation)
    data = codewords >= 0
    cw_grade = np.full(total, 4)
    np.minimum.at(cw_grade, codewords[data], module_grades[data])
    cw_wrong = np.zeros(total, dtype=bool)
    np.logical_or.at(cw_wrong, codewords[data], (dark != ideal)[data])
    uec = _unused_ec(cw_wrong, np.zeros(total, dtype=bool), n)
    if ideal is dark and decoder_uec is not None:
        uec = float(decoder_uec)
    # ISO/IEC 15415 modulation: at each grade level, codewords below it become erasures; keep the best
    # outcome.
    levels = [
        min(Grade(g), grade_value("unused_error_correction", _unused_ec(cw_wrong, cw_grade < g, n)))
        for g in range(1, 5)
    ]
    mod_grade = max([Grade.F, *levels])
    mod_value = float(np.mean(modulation[data]))
    x_spacing = (
        np.hypot(*(corner_array[1] - corner_array[0])) + np.hypot(*(corner_array[2] - corner_array[3]))
    ) / (2 * n)
    y_spacing = (
        np.hypot(*(corner_array[3] - corner_array[0])) + np.hypot(*(corner_array[2] - corner_array[1]))
    ) / (2 * n)
    axial = float(abs(x_spacing - y_spacing) / ((x_spacing + y_spacing) / 2))
    grid = _grid_nonuniformity(gray, corner_array, n, module, threshold * 255)
    return Grading(
        Measure(contrast, grade_value("symbol_contrast", contrast)),
        Measure(mod_value, mod_grade),
        Measure(axial, grade_value("axial_nonuniformity", axial)),
        Measure(grid, grade_value("grid_nonuniformity", grid)),
        Measure(uec, grade_value("unused_error_correction", uec)),
    )


def _ideal(text: str | None, n: int, dark: np.ndarray) -> np.ndarray:
    """The symbol as the plant's encoder makes it for ``text``, if it matches the scan's size and mostly its
    modules; otherwise the scan's own modules (then no codeword counts as wrong)."""
    if text is None:
        return dark
    from tracking.symbols import datamatrix

    try:
        ideal = datamatrix(text)
    except SymbolError:
        return dark
    if ideal.shape != dark.shape or np.count_nonzero(ideal != dark) > dark.size // 4:
        return dark
    return ideal


def _grid_nonuniformity(
    gray: np.ndarray, corners: np.ndarray, n: int, module: float, threshold: float
) -> float:
    """Largest deviation (in modules) of a clock-track module edge from its place on the ideal grid.

    The clock tracks are the two alternating sides of the L-shaped finder; all four sides are profiled along
    their module centres and the solid ones (no edges) are skipped.
    """
    worst = 0.0
    steps = np.linspace(0.0, n, n * 12 + 1)
    for side in range(4):
        # Sides in image order: top (v=0.5), right (u=n−0.5), bottom (v=n−0.5), left (u=0.5).
        u, v = {
            0: (steps, np.full_like(steps, 0.5)),
            1: (np.full_like(steps, n - 0.5), steps),
            2: (steps, np.full_like(steps, n - 0.5)),
            3: (np.full_like(steps, 0.5), steps),
        }[side]
        x, y = _grid(corners, u, v, n)
        profile = _sample(gray, x, y, max(module * 0.25, 0.5)) * 255
        if profile.max() - profile.min() < 0.25 * 255 * 0.5:
            continue  # a solid finder side has no edges
        worst = max(worst, _edge_deviation(profile, steps, threshold, 1.0))
    return worst
