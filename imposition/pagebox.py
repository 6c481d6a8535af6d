"""A page's effective box: the one rectangle of a page placed on a leaf, measured one way for everyone.

Imposition places, and the plant's pre-flight measures, the same thing: :func:`page_box` of the page as qpdf
reads it. The box is the page's ``/TrimBox``, else its ``/CropBox``, else its ``/MediaBox`` (``/MediaBox``,
``/CropBox`` and ``/Rotate`` inherited from the page tree, ``/TrimBox`` and ``/UserUnit`` not, as the PDF
standard has it), each corner order normalised, cut to the ``/MediaBox`` (what lies outside the media is not
part of the page); its size is taken in ``/UserUnit`` and turned by ``/Rotate``. A page whose boxes cannot be
read that way is refused (:class:`~imposition.errors.PageDoesNotFit`) with the box named, its size, and what
to fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pikepdf

from imposition.errors import PageDoesNotFit

#: Points per millimetre (as :data:`imposition.geometry.PT_PER_MM`, kept here to stay import-light).
_MM = 25.4 / 72
#: Largest /UserUnit the PDF standard allows (PDF 32000-1, Annex C).
MAX_USER_UNIT = 75_000.0
#: Smallest side of a page box, in points, that counts as having an area.
MIN_SIDE = 1.0
#: How far up the page tree an inherited entry is looked for (a deeper or looping tree is not followed).
_MAX_DEPTH = 64

#: (x0, y0, x1, y1) in the page's user space, x0 < x1, y0 < y1.
Corners = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class PageBox:
    """The effective box of one page.

    ``name`` is the entry the box came from (``TrimBox``, ``CropBox`` or ``MediaBox``); ``corners`` the box in
    the page's user space, within the media box; ``rotate`` the page's ``/Rotate`` (0, 90, 180 or 270);
    ``unit`` its ``/UserUnit`` (points per user-space unit).
    """

    name: str
    corners: Corners
    rotate: int
    unit: float

    @property
    def width(self) -> float:
        """Width of the box in user-space units, before rotation."""
        return self.corners[2] - self.corners[0]

    @property
    def height(self) -> float:
        """Height of the box in user-space units, before rotation."""
        return self.corners[3] - self.corners[1]

    @property
    def shown(self) -> tuple[float, float]:
        """Width and height in points as the page is shown: ``/UserUnit`` applied, ``/Rotate`` turned."""
        w, h = self.width * self.unit, self.height * self.unit
        return (h, w) if self.rotate % 180 else (w, h)


def _size_mm(corners: Corners, unit: float = 1.0) -> str:
    return f"{(corners[2] - corners[0]) * unit * _MM:.0f} × {(corners[3] - corners[1]) * unit * _MM:.0f} mm"


def _inherited(page: pikepdf.Dictionary, key: str) -> object:
    """``key`` of ``page``, or of the nearest page-tree node above it that has it (None: nowhere)."""
    node: object = page
    seen: set[tuple[int, int]] = set()
    for _ in range(_MAX_DEPTH):
        if not isinstance(node, pikepdf.Dictionary):
            return None
        if key in node:
            return node.get(key)
        if node.is_indirect:
            if node.objgen in seen:
                return None
            seen.add(node.objgen)
        node = node.get("/Parent")
    return None


def _number(value: object) -> float | None:
    """``value`` as a finite float, or None when it is no number (names, strings, booleans, NaN, inf)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # int, Decimal or a pikepdf numeric object
    except (TypeError, ValueError, ArithmeticError):
        return None
    return number if math.isfinite(number) else None


def _corners(value: object) -> Corners | None:
    """A box entry as normalised corners, or None when it is not an array of four finite numbers."""
    if not isinstance(value, pikepdf.Array) or len(value) != 4:
        return None
    numbers = [_number(v) for v in value]
    if any(n is None for n in numbers):
        return None
    x0, y0, x1, y1 = (float(n) for n in numbers if n is not None)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _shown(value: object) -> str:
    """A box entry as the sender could find it in the file (short)."""
    text = str(value) if not isinstance(value, pikepdf.Array) else str([str(v) for v in value])
    return text if len(text) <= 60 else text[:59] + "…"


def page_box(page: pikepdf.Page, path: Path, number: int) -> PageBox:
    """The effective box of ``page`` (page ``number`` from 1 of the file at ``path``, for the messages).

    Raises :class:`~imposition.errors.PageDoesNotFit` when the page has no usable media box, a box entry that
    is not four numbers, a box with no area inside the media box, a ``/Rotate`` that is not a multiple of 90
    or a ``/UserUnit`` that is not a positive number up to 75,000.
    """
    obj = page.obj
    raw_media = _inherited(obj, "/MediaBox")
    media = _corners(raw_media)
    if media is None:
        what = (
            "has no MediaBox"
            if raw_media is None
            else f"has a MediaBox {_shown(raw_media)} that is not four numbers"
        )
        raise PageDoesNotFit(
            path,
            number,
            f"the page {what}, so its size is unknown; export the letter as PDF again on A4 paper",
        )
    name, corners = "MediaBox", media
    for key, value in (("TrimBox", obj.get("/TrimBox")), ("CropBox", _inherited(obj, "/CropBox"))):
        if value is None:
            continue
        box = _corners(value)
        if box is None:
            raise PageDoesNotFit(
                path,
                number,
                f"its {key} {_shown(value)} is not four numbers; remove the {key} or export the letter "
                "as PDF again on A4 paper",
            )
        name, corners = key, box
        break
    rotate = _rotation(_inherited(obj, "/Rotate"), path, number)
    unit = _user_unit(obj.get("/UserUnit"), path, number)
    cut = (
        max(corners[0], media[0]),
        max(corners[1], media[1]),
        min(corners[2], media[2]),
        min(corners[3], media[3]),
    )
    if cut[2] - cut[0] < MIN_SIDE or cut[3] - cut[1] < MIN_SIDE:
        where = "lies outside its MediaBox" if name != "MediaBox" else "has no area"
        raise PageDoesNotFit(
            path,
            number,
            f"its {name} {[round(c, 2) for c in corners]} ({_size_mm(corners, unit)}) {where} "
            f"{[round(c, 2) for c in media]}; give the page an A4 {name} (210 × 297 mm) inside its MediaBox, "
            "or export the letter as PDF again on A4 paper",
        )
    return PageBox(name, cut, rotate, unit)


def _rotation(value: object, path: Path, number: int) -> int:
    if value is None:
        return 0
    degrees = _number(value)
    if degrees is None or degrees != int(degrees) or int(degrees) % 90:
        raise PageDoesNotFit(
            path,
            number,
            f"its /Rotate {_shown(value)} is not a multiple of 90 degrees; export the letter as PDF again "
            "with its pages upright",
        )
    return int(degrees) % 360


def _user_unit(value: object, path: Path, number: int) -> float:
    if value is None:
        return 1.0
    unit = _number(value)
    if unit is None or not 0 < unit <= MAX_USER_UNIT:
        raise PageDoesNotFit(
            path,
            number,
            f"its /UserUnit {_shown(value)} is not a positive number up to {MAX_USER_UNIT:,.0f}; remove the "
            "/UserUnit or export the letter as PDF again on A4 paper",
        )
    return unit
