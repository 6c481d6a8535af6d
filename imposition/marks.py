"""Drawing codes on a pikepdf page: module matrices become 1-bit image XObjects placed with a ``cm`` matrix.

One image pixel is one module, so a ``cm`` scaling of exactly ``module size × pixels`` makes every module
exactly the specified size on paper, and ``/Interpolate false`` keeps the edges hard. An image costs a few
hundred bytes and one draw operation, where vector rectangles would cost thousands of path operators.
"""

from __future__ import annotations

import numpy as np
import pikepdf
import zint
from reportlab.pdfbase.pdfmetrics import getFont, stringWidth

from imposition.geometry import Rect
from tracking import SymbolError, pack_bits, scale_modules

#: QR mask pattern used for postage marks (libzint numbers them 0–7; see :func:`postage_matrix`).
QR_MASK = 2


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
    """Format a number for a content stream: fixed point, no exponent, to a thousandth of a point (0.35 µm).

    Written on every leaf and mark, so it is one C-level format, not a trim of trailing zeros.
    """
    return f"{value:.3f}"


def postage_matrix(text: str) -> np.ndarray:
    """Encode ``text`` as a QR code with a fixed mask (pattern 2); return its modules without quiet zone.

    Why not :func:`tracking.qr`: libzint's automatic mask selection scores all eight masks and costs about
    280 µs per symbol against 28 µs with a fixed one — a third of the per-piece marking budget. Any mask reads
    the same; the automatic choice only trims a little dark/light imbalance.
    """
    symbol = zint.Symbol()
    symbol.symbology = zint.Symbology.QRCODE
    symbol.input_mode = zint.InputMode.UNICODE
    symbol.option_3 = (QR_MASK + 1) << 8
    try:
        symbol.encode(text)
    except RuntimeError as exc:
        raise SymbolError("QR code", text, str(exc)) from None
    packed = np.asarray(symbol.encoded_data)[: symbol.rows]
    return np.unpackbits(packed, axis=1, bitorder="little")[:, : symbol.width].astype(bool)


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
    """Ascent of a base-14 font at ``size`` points (reportlab's AFM metrics; for Helvetica it equals the cap
    height)."""
    return float(getFont(font).face.ascent) * size / 1000


def text_width(text: str, font: str, size: float) -> float:
    """Advance width of ``text`` in a base-14 font at ``size`` points."""
    return float(stringWidth(text, font, size))


def draw_text(font_name: str, size: float, text: str, x: float, baseline: float, page_height: float) -> bytes:
    """Content-stream bytes that show ``text`` in black starting at ``x`` on ``baseline`` (top-left
    origin)."""
    literal = pikepdf.String(text.encode("cp1252")).unparse().decode("latin-1")
    return (
        f"q 0 g BT {font_name} {fmt(size)} Tf {fmt(x)} {fmt(page_height - baseline)} Td {literal} Tj ET Q\n"
    ).encode("latin-1")


def inline_image(bitmap: np.ndarray, box: Rect, page_height: float) -> bytes:
    """Content-stream bytes that paint bool ``bitmap`` (True = dark) as an inline 1-bit image filling ``box``.

    Inline (``BI … ID … EI``) rather than an XObject: a control code is used once, so it costs no object, no
    resource entry and no cross-reference row — only the bytes in the sheet's content stream. The data is
    ASCII-hex so no reader can mistake a binary ``EI`` inside it for the end of the image.
    """
    height, width = bitmap.shape
    x, y, w, h = box.to_pdf(page_height)
    data = pack_bits(bitmap).tobytes().hex().encode("ascii")
    return b"q %s 0 0 %s %s %s cm BI /W %d /H %d /BPC 1 /CS /G /F /AHx ID %s> EI Q\n" % (
        fmt(w).encode(),
        fmt(h).encode(),
        fmt(x).encode(),
        fmt(y).encode(),
        width,
        height,
        data,
    )


def rectangles(boxes: list[Rect], page_height: float) -> bytes:
    """Content-stream bytes that fill ``boxes`` in black (one path, one fill)."""
    if not boxes:
        return b""
    parts = [b"q 0 g"]
    for box in boxes:
        x, y, w, h = box.to_pdf(page_height)
        parts.append(b"%s %s %s %s re" % (fmt(x).encode(), fmt(y).encode(), fmt(w).encode(), fmt(h).encode()))
    parts.append(b"f Q\n")
    return b" ".join(parts)


def lines(segments: list[tuple[float, float, float, float]], width: float, page_height: float) -> bytes:
    """Content-stream bytes that stroke black ``segments`` ``(x0, y0, x1, y1)`` (top-left origin) ``width``
    wide."""
    if not segments:
        return b""
    parts = [b"q 0 G %s w" % fmt(width).encode()]
    for x0, y0, x1, y1 in segments:
        parts.append(
            b"%s %s m %s %s l"
            % (
                fmt(x0).encode(),
                fmt(page_height - y0).encode(),
                fmt(x1).encode(),
                fmt(page_height - y1).encode(),
            )
        )
    parts.append(b"S Q\n")
    return b" ".join(parts)
