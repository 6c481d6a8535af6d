"""Drawing codes on a pikepdf page: module matrices become 1-bit image XObjects placed with a ``cm`` matrix.

One image pixel is one module, so a ``cm`` scaling of exactly ``module size × pixels`` makes every module
exactly the specified size on paper, and ``/Interpolate false`` keeps the edges hard. An image costs a few
hundred bytes and one draw operation, where vector rectangles would cost thousands of path operators.
"""

from __future__ import annotations

import numpy as np
import pikepdf
from reportlab.pdfbase.pdfmetrics import getFont, stringWidth

from imposition.geometry import Rect
from tracking import pack_bits, scale_modules


def image_xobject(pdf: pikepdf.Pdf, bitmap: np.ndarray) -> pikepdf.Stream:
    """Make an opaque 1-bit DeviceGray image XObject of a bool bitmap (True = dark), one pixel per module."""
    height, width = bitmap.shape
    return pikepdf.Stream(
        pdf,
        pack_bits(bitmap).tobytes(),
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=width,
        Height=height,
        ColorSpace=pikepdf.Name.DeviceGray,
        BitsPerComponent=1,
        Interpolate=False,
    )


def symbol_bitmap(matrix: np.ndarray, quiet_modules: int) -> np.ndarray:
    """Surround a 2-D symbol's module matrix with its quiet zone, one pixel per module."""
    return scale_modules(matrix, 1, quiet_modules)


def linear_bitmap(matrix: np.ndarray, quiet_modules: int) -> np.ndarray:
    """Add left and right quiet zones to a one-row linear symbol (its height comes from the ``cm`` matrix)."""
    return np.pad(matrix, ((0, 0), (quiet_modules, quiet_modules)), constant_values=False)


def fmt(value: float) -> str:
    """Format a number for a content stream: fixed point, no exponent, trailing zeros dropped."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def draw_image(name: str, box: Rect, page_height: float) -> bytes:
    """Content-stream bytes that paint image XObject ``name`` (e.g. ``/Ctl``) exactly filling ``box``."""
    x, y, w, h = box.to_pdf(page_height)
    return f"q {fmt(w)} 0 0 {fmt(h)} {fmt(x)} {fmt(y)} cm {name} Do Q\n".encode("ascii")


def helvetica_font(pdf: pikepdf.Pdf, base_font: str) -> pikepdf.Dictionary:
    """A base-14 Type 1 font dictionary in WinAnsiEncoding (no embedding: every PDF consumer has these)."""
    return pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.Type1,
            BaseFont=pikepdf.Name("/" + base_font),
            Encoding=pikepdf.Name.WinAnsiEncoding,
        )
    )


def ascent(font: str, size: float) -> float:
    """Ascent of a base-14 font at ``size`` points (reportlab's AFM metrics; for Helvetica it equals the cap height)."""
    return getFont(font).face.ascent * size / 1000


def text_width(text: str, font: str, size: float) -> float:
    """Advance width of ``text`` in a base-14 font at ``size`` points."""
    return stringWidth(text, font, size)


def draw_text(font_name: str, size: float, text: str, x: float, baseline: float, page_height: float) -> bytes:
    """Content-stream bytes that show ``text`` in black starting at ``x`` on ``baseline`` (top-left origin)."""
    literal = pikepdf.String(text.encode("cp1252")).unparse().decode("latin-1")
    return (
        f"q 0 g BT {font_name} {fmt(size)} Tf {fmt(x)} {fmt(page_height - baseline)} Td {literal} Tj ET Q\n"
    ).encode("latin-1")
