"""Sheet geometry: rectangles measured from the top-left of the page, and where the plant's codes go.

Everything is in PDF points (1/72 inch) internally; millimetres are converted at the edges with
:func:`mm` / :meth:`Rect.from_mm`. Rectangles are measured from the TOP-LEFT corner, as DIN 5008 and
letter templates measure, and flipped to PDF's bottom-left origin only when drawing (:meth:`Rect.to_pdf`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: PDF points per millimetre.
PT_PER_MM = 72 / 25.4
#: A4 portrait width in points (210 mm).
A4_WIDTH = 210 * PT_PER_MM
#: A4 portrait height in points (297 mm).
A4_HEIGHT = 297 * PT_PER_MM
#: How far a page may be from A4 in each dimension and still be taken as A4 (2 mm).
A4_TOLERANCE = 2 * PT_PER_MM


def mm(value: float) -> float:
    """Convert millimetres to PDF points."""
    return value * PT_PER_MM


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle in points, ``x``/``y`` its top-left corner measured from the page's
    top-left."""

    x: float
    y: float
    w: float
    h: float

    @classmethod
    def from_mm(cls, x: float, y: float, w: float, h: float) -> Rect:
        """Build a rectangle from millimetres (top-left origin)."""
        return cls(mm(x), mm(y), mm(w), mm(h))

    def to_pdf(self, page_height: float) -> tuple[float, float, float, float]:
        """Return ``(x, y, w, h)`` in PDF user space (bottom-left origin) on a page ``page_height`` points
        tall."""
        return (self.x, page_height - self.y - self.h, self.w, self.h)

    def contains(self, other: Rect, tolerance: float = 1e-6) -> bool:
        """Tell whether ``other`` lies entirely inside this rectangle."""
        return (
            other.x >= self.x - tolerance
            and other.y >= self.y - tolerance
            and other.x + other.w <= self.x + self.w + tolerance
            and other.y + other.h <= self.y + self.h + tolerance
        )


#: DIN 5008 form B address field on A4: 85 × 45 mm, top-left at x = 20 mm, y = 45 mm.
DIN5008_B_ADDRESS_FIELD = Rect.from_mm(20, 45, 85, 45)


@dataclass(frozen=True, slots=True)
class MarkLayout:
    """Where the plant's codes go on a sheet and how large their modules are (all lengths in points).

    The defaults suit an A4 DIN 5008 form-B letter: the control DataMatrix in the left margin near the bottom,
    the tracking Code 128 with its text inside the address field under the address, so it shows in the window.
    """

    #: Clear zone of the per-sheet control DataMatrix (symbol and quiet zone are drawn inside it, top-left
    #: aligned).
    control_zone: Rect = field(default_factory=lambda: Rect.from_mm(6, 250, 12, 12))
    #: Edge of one DataMatrix module.
    control_module: float = mm(0.5)
    #: Light modules around the DataMatrix (ECC200 needs at least one).
    control_quiet_modules: int = 1
    #: Zone of the tracking barcode and its human-readable text, inside the DIN 5008 form-B address field.
    tracking_zone: Rect = field(default_factory=lambda: Rect.from_mm(24, 81, 70, 8.5))
    #: Narrow bar width of the Code 128 (its module width).
    tracking_module: float = mm(0.25)
    #: Height of the Code 128 bars.
    tracking_bar_height: float = mm(6)
    #: Light modules left and right of the Code 128 bars (the symbology requires 10).
    tracking_quiet_modules: int = 10
    #: Font of the human-readable tracking id under the bars (one of the PDF base-14 fonts).
    tracking_font: str = "Helvetica"
    #: Size of the human-readable tracking id under the bars.
    tracking_font_size: float = 7.0
    #: Gap between the bottom of the bars and the top of the human-readable text (the font's ascent).
    tracking_text_gap: float = mm(0.5)
    #: Zone of the postage mark: the right end of the DIN 5008 form-B address field, clear of the return line
    #: and the address lines, so it shows in the envelope window.
    postage_zone: Rect = field(default_factory=lambda: Rect.from_mm(88, 45.5, 16.5, 16.5))
    #: Edge of one postage-mark module: the signed PM1 mark is a version-7 QR (45 modules), 16.2 mm with its
    #: quiet zone at this size, about 4 device pixels per module at 300 dpi.
    postage_module: float = mm(0.33)
    #: Light modules around the postage mark (QR asks for 4; 2 read reliably at this size and fit the zone).
    postage_quiet_modules: int = 2
    #: Crop marks: distance from the trim edge to the start of the mark.
    crop_offset: float = mm(3)
    #: Crop marks: length of each mark.
    crop_length: float = mm(5)
    #: Crop marks: line width (0.25 pt, a hairline the guillotine operator can still see).
    crop_line_width: float = 0.25


#: A3 landscape width in points (420 mm): two A4 portrait side by side, nothing to spare.
A3_LANDSCAPE = (420 * PT_PER_MM, 297 * PT_PER_MM)
#: SRA3 landscape in points (450 × 320 mm): two A4 portrait with room for crop marks and grippers.
SRA3_LANDSCAPE = (450 * PT_PER_MM, 320 * PT_PER_MM)
#: Width of the continuous-feed web in points (520 mm): two A4 lanes across plus the tractor margins.
WEB_WIDTH = 520 * PT_PER_MM
#: One frame of the web as the layout sees it: the web's width by one A4 length (520 × 297 mm).
WEB_FRAME = (WEB_WIDTH, A4_HEIGHT)
