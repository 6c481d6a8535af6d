"""Shared helpers of the imposition tests: tiny labelled letters, renderings, decoded codes, placements."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import zxingcpp
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ContentStream
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from imposition import Layout, PieceInput, mm

#: Rendering resolution of round trips: a 0.5 mm DataMatrix module is ~3 px, enough for zxing-cpp.
DPI = 150


def write_labelled(path: Path, label: str, pages: int, pagesize=A4, rotate: int = 0) -> Path:
    """A PDF whose page ``n`` shows ``{label}-{n}`` (and nothing in the plant's mark zones)."""
    c = canvas.Canvas(str(path), pagesize=pagesize, invariant=1)
    for number in range(1, pages + 1):
        c.setFont("Helvetica", 14)
        c.drawString(100, pagesize[1] / 2, f"{label}-{number}")
        c.showPage()
    c.save()
    if rotate:
        import pikepdf

        with pikepdf.open(path, allow_overwriting_input=True) as pdf:
            for page in pdf.pages:
                page.obj.Rotate = rotate
            pdf.save(path)
    return path


def make_pieces(folder: Path, counts: list[int], simplex: set[int] = frozenset()) -> list[PieceInput]:
    """Pieces ``P1``… with the given page counts; indices in ``simplex`` are simplex letters."""
    return [
        PieceInput(
            f"P{i + 1}", write_labelled(folder / f"p{i + 1}.pdf", f"p{i + 1}", count), simplex=i in simplex
        )
        for i, count in enumerate(counts)
    ]


def render(pdf: Path, folder: Path, dpi: int = DPI) -> list[np.ndarray]:
    """Every page of ``pdf`` rendered by pdftoppm in grey."""
    prefix = folder / f"{pdf.stem}-r"
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", str(pdf), str(prefix)], check=True)
    pages = sorted(folder.glob(f"{prefix.name}-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return [np.asarray(Image.open(p)) for p in pages]


def codes_by_slot(
    image: np.ndarray, layout: Layout, dpi: int = DPI, fmt=zxingcpp.BarcodeFormat.DataMatrix
) -> dict[int, list[str]]:
    """Decoded symbols of one sheet side, grouped by the slot their centre falls in."""
    found: dict[int, list[str]] = {}
    scale = dpi / 72
    for result in zxingcpp.read_barcodes(image, formats=fmt):
        p = result.position
        cx = (p.top_left.x + p.bottom_right.x + p.top_right.x + p.bottom_left.x) / 4 / scale
        cy = (p.top_left.y + p.bottom_right.y + p.top_right.y + p.bottom_left.y) / 4 / scale
        for slot in range(layout.n_up):
            r = layout.slot_rect(slot)
            if r.x <= cx < r.x + r.w and r.y <= cy < r.y + r.h:
                found.setdefault(slot, []).append(result.text)
    return found


def placements(pdf: Path) -> list[list[tuple[str, tuple[float, ...]]]]:
    """Per output page: (label of the placed source page, the CTM it is drawn with), read back with pypdf."""
    reader = PdfReader(pdf)
    table = []
    for page in reader.pages:
        xobjects = page["/Resources"].get("/XObject", {})
        stack, ctm, rows = [], (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), []
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"q":
                stack.append(ctm)
            elif operator == b"Q":
                ctm = stack.pop()
            elif operator == b"cm":
                a, b, c, d, e, f = (float(v) for v in operands)
                p, q_, r, s, t, u = ctm
                ctm = (
                    a * p + b * r,
                    a * q_ + b * s,
                    c * p + d * r,
                    c * q_ + d * s,
                    e * p + f * r + t,
                    e * q_ + f * s + u,
                )
            elif operator == b"Do":
                data = xobjects[operands[0]].get_object().get_data()
                label = re.search(rb"\((p\d+-\d+)\) Tj", data).group(1).decode()
                rows.append((label, tuple(round(v, 2) + 0.0 for v in ctm)))
        table.append(rows)
    return table


def millimetres(points: float) -> float:
    """Points to millimetres, for readable expectations."""
    return points / mm(1)


def read_pwg_with_libcups(path: Path) -> list[tuple[dict, np.ndarray]]:
    """Decode a PWG raster file with CUPS's own reader (libcups through ctypes): (header fields, pixels) per
    page.

    An independent decoder: it shares no code with the writer under test.
    """
    import ctypes
    import os

    lib = ctypes.CDLL("libcups.so.2")
    lib.cupsRasterOpen.restype = ctypes.c_void_p
    lib.cupsRasterOpen.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.cupsRasterReadHeader2.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.cupsRasterReadPixels.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint]
    lib.cupsRasterReadPixels.restype = ctypes.c_uint
    lib.cupsRasterClose.argtypes = [ctypes.c_void_p]
    fd = os.open(path, os.O_RDONLY)
    raster = lib.cupsRasterOpen(fd, 0)  # CUPS_RASTER_READ
    header = ctypes.create_string_buffer(1796)
    pages = []
    try:
        while lib.cupsRasterReadHeader2(raster, header):

            def field(offset: int) -> int:
                return int.from_bytes(header.raw[offset : offset + 4], "little")

            fields = {
                "width": field(372),
                "height": field(376),
                "dpi": field(276),
                "bytes_per_line": field(392),
                "color_space": field(400),
                "duplex": field(272),
                "tumble": field(368),
                "total": field(452),
            }
            size = fields["bytes_per_line"] * fields["height"]
            buffer = ctypes.create_string_buffer(size)
            read = lib.cupsRasterReadPixels(raster, buffer, size)
            pixels = np.frombuffer(buffer.raw[:read], np.uint8).reshape(-1, fields["bytes_per_line"])
            pages.append((fields, pixels))
    finally:
        lib.cupsRasterClose(raster)
        os.close(fd)
    return pages
