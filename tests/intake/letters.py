"""Letters for the intake tests: DIN 5008 form-B letters drawn with reportlab, with knobs to break them."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

#: A manifest row every test letter is addressed to.
ROW = {
    "letter_id": "L1",
    "recipient_id": "R1",
    "name": "Anna Becker",
    "address_1": "Hafenstraße 12",
    "address_2": "",
    "postcode": "20095",
    "city": "Hamburg",
    "country": "DE",
    "mail_class": "standard",
}


def address_of(row: dict) -> tuple[str, ...]:
    """The address lines pre-flight looks for."""
    return tuple(
        v for v in (row["name"], row["address_1"], row["address_2"], row["postcode"], row["city"]) if v
    )


def write(
    path: Path,
    row: dict = ROW,
    pages: int = 2,
    address_at: tuple[float, float] = (25, 65.5),
    marks: tuple[tuple[int, float, float, str], ...] = (),
    pagesize: tuple[float, float] = A4,
) -> Path:
    """A letter with the address at ``address_at`` (mm from the top-left) and ``marks``: (page, x, y,
    text)."""
    width, height = pagesize
    c = canvas.Canvas(str(path), pagesize=pagesize, invariant=1)
    for page in range(pages):
        if page == 0:
            c.setFont("Helvetica", 7)
            c.drawString(25 * mm, height - 58 * mm, "Sender GmbH · Postfach 1 · 10001 Berlin")
            c.setFont("Helvetica", 9)
            x, y = address_at
            for line in (row["name"], row["address_1"], row["address_2"], f"{row['postcode']} {row['city']}"):
                if line:
                    c.drawString(x * mm, height - y * mm, line)
                    y += 3.6
        c.setFont("Helvetica", 10)
        c.drawString(25 * mm, height - 120 * mm, f"Body text of page {page + 1}.")
        for mark_page, x, y, text in marks:
            if mark_page == page:
                c.drawString(x * mm, height - y * mm, text)
        c.showPage()
    c.save()
    return Path(path)


def red_box_mm(pdf_path: Path, page: int = 0, dpi: float = 50) -> tuple[float, float, float, float] | None:
    """Bounding box (x0, y0, x1, y1 in mm from the top-left) of the red marks on ``page`` of an overlay PDF,
    leaving out the caption band at the top of the page."""
    import numpy as np

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        image = np.asarray(
            pdf[page].render(scale=dpi / 72, rev_byteorder=True).to_pil().convert("RGB")
        ).astype(int)
    finally:
        pdf.close()
    red = (image[..., 0] > 150) & (image[..., 1] < 110) & (image[..., 2] < 110)
    red[: int(35 / 25.4 * dpi)] = False  # the caption
    ys, xs = np.nonzero(red)
    if not len(xs):
        return None
    px = 25.4 / dpi
    return xs.min() * px, ys.min() * px, (xs.max() + 1) * px, (ys.max() + 1) * px
