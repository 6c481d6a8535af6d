"""Overlay PDFs: the pages a pre-flight rejection is about, with the offending areas marked in red.

Drawn in the parent from the low-resolution greyscale pictures a pre-flight child rendered (the parent never
parses the sender's PDF itself): each page's picture, the offending rectangles filled and outlined in red, the
area where it belongs (the clear zone or the window field) outlined in dashed blue, and the reason in red at
the top. The file goes next to the receipts, and its path on the letter's receipt row.
"""

from __future__ import annotations

import textwrap
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from plant.intake.pdfcheck import MM_PER_PT, Finding, Verdict
from plant.storage.files import atomic_write

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

#: Largest picture side accepted from a child, pixels (an A4 page at 50 dpi is 414 × 585).
MAX_PICTURE_PX = 4000
#: Red of the marks (RGB 0–1).
RED = (0.86, 0.0, 0.0)
#: Blue of the "belongs here" outlines.
BLUE = (0.0, 0.25, 0.85)


def write_overlay(path: Path, letter_id: str, verdict: Verdict) -> Path | None:
    """Write the overlay of ``verdict`` to ``path``; None (nothing written) when it has no page to show."""
    if not verdict.pictures:
        return None
    import io

    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    doc = canvas.Canvas(buffer, invariant=1)
    doc.setTitle(f"Pre-flight of {letter_id}: {verdict.code}")
    for picture in verdict.pictures:
        if not (0 < picture.width_px <= MAX_PICTURE_PX and 0 < picture.height_px <= MAX_PICTURE_PX):
            continue
        size = picture.width_px * picture.height_px
        pixels = zlib.decompressobj().decompress(picture.pixels, size)
        if len(pixels) != size:
            continue
        width, height = picture.width_pt, picture.height_pt
        doc.setPageSize((width, height))
        image = Image.frombytes("L", (picture.width_px, picture.height_px), pixels)
        doc.drawImage(ImageReader(image), 0, 0, width, height)
        findings = [f for f in verdict.findings if f.page == picture.page]
        for finding in findings:
            _mark(doc, finding, height)
        _caption(doc, letter_id, picture.page, findings or list(verdict.findings), width, height)
        doc.showPage()
    doc.save()
    atomic_write(path, buffer.getvalue())
    return path


def _mark(doc: Canvas, finding: Finding, page_height: float) -> None:
    if finding.expected is not None:
        x, y, w, h = finding.expected
        doc.setStrokeColorRGB(*BLUE)
        doc.setLineWidth(1)
        doc.setDash(4, 3)
        doc.rect(x, page_height - y - h, w, h, stroke=1, fill=0)
        doc.setDash()
    if finding.rect is not None:
        x, y, w, h = finding.rect
        doc.setStrokeColorRGB(*RED)
        doc.setFillColorRGB(*RED, alpha=0.35)
        doc.setLineWidth(1.5)
        doc.rect(x, page_height - y - h, w, h, stroke=1, fill=1)
        doc.setFillColorRGB(*RED, alpha=1)
        doc.setFont("Helvetica-Bold", 6)
        doc.drawString(
            x, page_height - y - h - 7, f"{finding.code} at {x * MM_PER_PT:.0f} mm, {y * MM_PER_PT:.0f} mm"
        )


def _caption(
    doc: Canvas, letter_id: str, page: int, findings: list[Finding], width: float, height: float
) -> None:
    doc.setFillColorRGB(*RED, alpha=1)
    doc.setFont("Helvetica-Bold", 7)
    y = height - 10
    doc.drawString(8, y, f"Pre-flight of {letter_id}, page {page + 1}: rejected")
    doc.setFont("Helvetica", 6)
    for finding in findings:
        for line in textwrap.wrap(f"{finding.code}: {finding.message}", 150):
            y -= 7.5
            doc.drawString(8, y, line)
