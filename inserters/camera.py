"""The inserter's camera: reads the control code on each printed sheet, the way a line-scan camera would.

Only the control zone of each page is rendered (PDFium through pypdfium2, cropped at render time, which is far
cheaper than rendering the page and cutting), and decoded with zxing-cpp, an independent decoder. PDFium is
not thread-safe, so every use of it goes through one lock per process.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pypdfium2 as pdfium
import zxingcpp

from inserters.errors import UnreadableStack

#: Resolution the camera reads at.
DEFAULT_DPI = 200
#: Extra margin around the control zone, points (2 mm): tolerates the sheet's play in the paper path.
ZONE_MARGIN = 2 * 72 / 25.4
_PDFIUM = threading.Lock()


def read_sheets(pdf_path: Path, control_zone: tuple[float, float, float, float],
                dpi: int = DEFAULT_DPI) -> list[str | None]:
    """Decoded control code of every page of ``pdf_path`` in order (None where nothing is readable)."""
    x, y, w, h = control_zone
    texts: list[str | None] = []
    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(str(pdf_path))
        except (pdfium.PdfiumError, OSError) as exc:
            raise UnreadableStack(Path(pdf_path), str(exc)) from None
        try:
            for index in range(len(document)):
                page = document[index]
                width, height = page.get_size()
                left = max(0.0, x - ZONE_MARGIN)
                top = max(0.0, y - ZONE_MARGIN)
                right = max(0.0, width - (x + w + ZONE_MARGIN))
                bottom = max(0.0, height - (y + h + ZONE_MARGIN))
                bitmap = page.render(scale=dpi / 72, crop=(left, bottom, right, top), grayscale=True)
                image = bitmap.to_numpy()
                page.close()
                found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.DataMatrix)
                texts.append(found[0].text if found else None)
        finally:
            document.close()
    return texts
