"""Pre-flight of one letter PDF: it is a PDF, opens, is not encrypted, has A4 pages, fits an envelope.

A failure gives a code and a message that says what to fix. (The sandboxed pool, the address and clear-zone
checks come with the intake issue; this is the foundation's check, and it already never lets a broken file
through.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pikepdf

#: A4 in points.
A4 = (595.276, 841.89)
#: Tolerance on page size, points (2 mm).
SIZE_TOLERANCE = 2 * 72 / 25.4


@dataclass(frozen=True)
class Verdict:
    """The outcome of pre-flight: ok with a page count, or a rejection code and reason."""

    ok: bool
    pages: int = 0
    code: str = ""
    reason: str = ""


def check_pdf(path: Path, max_pages: int) -> Verdict:
    """Check the letter at ``path``; ``max_pages`` is what the largest envelope of the fleet takes."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if b"%PDF-" not in head:
        return Verdict(False, code="NOT_PDF", reason="the file is not a PDF (no %PDF- header); send the letter as PDF.")
    try:
        with pikepdf.open(path) as pdf:
            pages = len(pdf.pages)
            if pages == 0:
                return Verdict(False, code="NO_PAGES", reason="the PDF has no pages; send the letter with its pages.")
            if pages > max_pages:
                return Verdict(False, pages=pages, code="TOO_MANY_PAGES",
                               reason=f"{pages} pages, but the largest envelope takes {max_pages} sheets; split "
                                      "the letter or send it as a large letter.")
            for number, page in enumerate(pdf.pages, start=1):
                problem = _page_problem(page, number)
                if problem:
                    return Verdict(False, pages=pages, code="PAGE_SIZE", reason=problem)
    except pikepdf.PasswordError:
        return Verdict(False, code="ENCRYPTED", reason="the PDF is encrypted; send it without a password.")
    except (pikepdf.PdfError, ValueError, RecursionError) as exc:
        return Verdict(False, code="BROKEN_PDF", reason=f"the PDF cannot be read ({str(exc)[:120]}); re-export it.")
    return Verdict(True, pages=pages)


def _page_problem(page: pikepdf.Page, number: int) -> str | None:
    box = [float(v) for v in page.trimbox] if "/TrimBox" in page.obj else [float(v) for v in page.mediabox]
    width, height = abs(box[2] - box[0]), abs(box[3] - box[1])
    if int(page.obj.get("/Rotate", 0)) % 180:
        width, height = height, width
    if abs(width - A4[0]) > SIZE_TOLERANCE or abs(height - A4[1]) > SIZE_TOLERANCE:
        mm = 25.4 / 72
        return (f"page {number} is {width * mm:.0f} × {height * mm:.0f} mm; the plant prints A4 portrait "
                "(210 × 297 mm): re-export the page as A4.")
    return None
