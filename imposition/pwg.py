"""PWG raster output for raster printers: sheets rendered at device resolution, codes stamped at device
pixels.

The job is imposed as usual but with its code symbols kept out of the PDF; each sheet side is rendered by
poppler's ``pdftoppm`` in 8-bit grey at the device's dpi, the symbols are rendered by the tracking kernels
with whole-pixel module edges (:func:`tracking.raster.render_symbol`) and stamped opaquely into the page
(:func:`tracking.raster.stamp_gray`), so a code never depends on the rasteriser's anti-aliasing. Pages are
then compressed with the PWG run-length scheme (:func:`encode_page`, a Numba kernel) and written as PWG Raster
(PWG 5102.4, ``image/pwg-raster``, sGray 8). Rendering goes a few pages at a time, so disk and memory stay
bounded whatever the job's length.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from imposition import _pwg_kernels
from imposition.errors import RasterError
from imposition.geometry import A4_HEIGHT, A4_WIDTH, PT_PER_MM
from imposition.impose import Marks, SheetStamp, atomic_output, impose_with_stamps
from imposition.layout import Duplex, Layout
from imposition.pieces import Normalise, PieceInput
from imposition.sheetmap import SheetMap
from tracking.raster import Stamp, render_symbol, stamp_gray

#: First bytes of a PWG Raster stream.
SYNC = b"RaS2"
#: Size of every page header.
HEADER_SIZE = 1796
#: PWG colour space sGray (cups_cspace_t CUPS_CSPACE_SW).
SGRAY = 18
#: Sheet sides rendered per pdftoppm call: bounds the temporary files (an A3 side at 600 dpi is 70 MB).
RENDER_BATCH = 4
#: The defaults of :func:`impose_raster`, as :func:`imposition.impose` has them (frozen dataclasses, so one
#: instance serves every call).
_DEFAULT_LAYOUT, _DEFAULT_MARKS, _DEFAULT_NORMALISE = Layout(), Marks(), Normalise()


def encode_page(raster: NDArray[np.uint8]) -> bytes:
    """PWG-compress one page of 8-bit grey (height × width uint8); same bytes as the NumPy reference."""
    if raster.ndim != 2 or raster.dtype != np.uint8:
        raise RasterError(f"a page must be a 2-D uint8 array, got {raster.dtype}{raster.shape}")
    return _pwg_kernels.encode_page(np.ascontiguousarray(raster)).tobytes()


def page_header(
    width: int,
    height: int,
    dpi: int,
    size_pt: tuple[float, float],
    total_pages: int,
    duplex: bool = False,
    tumble: bool = False,
) -> bytes:
    """The 1796-byte PWG page header of an sGray-8 page of ``width`` × ``height`` pixels at ``dpi``."""
    header = bytearray(HEADER_SIZE)
    header[0:9] = b"PwgRaster"

    def u32(offset: int, *values: int) -> None:
        """Write big-endian unsigned 32-bit ``values`` at ``offset``."""
        struct.pack_into(f">{len(values)}I", header, offset, *values)

    u32(272, int(duplex))
    u32(276, dpi, dpi)
    u32(340, 1)  # NumCopies
    u32(352, round(size_pt[0]), round(size_pt[1]))
    u32(368, int(tumble))
    u32(372, width, height)
    u32(384, 8, 8, width, 0, SGRAY)  # bits per colour, bits per pixel, bytes per line, chunky order, sGray
    u32(420, 1)  # NumColors
    u32(452, total_pages, 1, 1, 0, 0, width, height)  # TotalPageCount, transforms, ImageBox
    u32(480, 0xFFFFFF)  # AlternatePrimary: white
    name = _size_name(size_pt)
    header[1732 : 1732 + len(name)] = name
    return bytes(header)


def _size_name(size_pt: tuple[float, float]) -> bytes:
    """PWG self-describing media name of a sheet, e.g. ``iso_a3_297x420mm``."""
    w, h = sorted(round(v / PT_PER_MM) for v in size_pt)
    known = {(210, 297): "iso_a4", (297, 420): "iso_a3", (320, 450): "iso_sra3"}
    return f"{known.get((w, h), 'custom_' + str(w) + 'x' + str(h) + 'mm')}_{w}x{h}mm".encode("ascii")


def _stamp(stamp: SheetStamp, dpi: int) -> Stamp:
    """Render one symbol at device pixels and place it on the sheet (turned with its leaf when need be)."""
    symbol, box, slot, turned = stamp
    bitmap = render_symbol(
        symbol.matrix,
        dpi,
        symbol.module / PT_PER_MM,
        quiet_modules=symbol.quiet,
        bar_height_mm=None if symbol.bar_height is None else symbol.bar_height / PT_PER_MM,
    )
    scale = dpi / 72
    if turned:
        bitmap = np.ascontiguousarray(bitmap[::-1, ::-1])
        top = round((slot.y + A4_HEIGHT - box.y) * scale) - bitmap.shape[0]
        left = round((slot.x + A4_WIDTH - box.x) * scale) - bitmap.shape[1]
    else:
        top, left = round((slot.y + box.y) * scale), round((slot.x + box.x) * scale)
    return Stamp(bitmap, top, left)


def _rendered(pdf: Path, pages: int, dpi: int, folder: Path) -> Iterable[np.ndarray]:
    """Yield the pages of ``pdf`` as 8-bit grey arrays, rendering RENDER_BATCH at a time."""
    for first in range(1, pages + 1, RENDER_BATCH):
        last = min(pages, first + RENDER_BATCH - 1)
        prefix = folder / f"b{first}"
        done = subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-gray", "-f", str(first), "-l", str(last), str(pdf), str(prefix)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RasterError(f"pdftoppm failed on pages {first}–{last}: {done.stderr.strip()}")
        files = sorted(folder.glob(f"{prefix.name}-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        for path in files:
            with Image.open(path) as image:
                yield np.array(image, dtype=np.uint8)
            path.unlink()


def impose_raster(
    pieces: Iterable[PieceInput],
    out_path: Path,
    job_id: str,
    layout: Layout = _DEFAULT_LAYOUT,
    marks: Marks = _DEFAULT_MARKS,
    normalise: Normalise = _DEFAULT_NORMALISE,
    dpi: int = 300,
) -> SheetMap:
    """Impose like :func:`imposition.impose` but write PWG Raster at ``dpi`` to ``out_path``; return the sheet
    map.

    The header says duplex (and tumble for work-and-tumble) so the device prints the backs the way the layout
    placed them. The file appears only when complete.
    """
    if dpi < 72:
        raise RasterError(f"{dpi} dpi is too coarse for the plant's codes; use at least 150")
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix=".pwg-", dir=out_path.parent) as tmp:
        folder = Path(tmp)
        stamps: list[list[SheetStamp]] = []
        sheet_map = impose_with_stamps(
            pieces, folder / "sheets.pdf", job_id, layout, marks, normalise, stamps
        )
        size = layout.sheet.points
        with atomic_output(out_path) as stream:
            stream.write(SYNC)
            for page, raster in enumerate(_rendered(folder / "sheets.pdf", len(stamps), dpi, folder)):
                stamp_gray(raster, [_stamp(s, dpi) for s in stamps[page]])
                stream.write(
                    page_header(
                        raster.shape[1],
                        raster.shape[0],
                        dpi,
                        size,
                        len(stamps),
                        layout.duplexed,
                        layout.duplex is Duplex.TUMBLE,
                    )
                )
                stream.write(encode_page(raster))
    return sheet_map
