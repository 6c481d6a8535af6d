"""1-up simplex imposition on A4: every page of every piece becomes one marked A4 sheet, in order.

Each source page is wrapped as a Form XObject and placed, unscaled and centred, on a fresh A4 sheet (so
page boxes and /Rotate of the input do not leak into the output), then the sheet's codes are drawn on top:
the control DataMatrix on every sheet and the tracking Code 128 with its text on each piece's first sheet.
The job's PDF is written atomically: readers see either no file or the whole job.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pikepdf

from imposition import marks
from imposition.errors import DuplicatePiece, EmptyPdf, EncryptedPdf, MarkError, UnreadablePdf, WrongPageSize
from imposition.geometry import A4_HEIGHT, A4_TOLERANCE, A4_WIDTH, MarkLayout, Rect
from imposition.sheetmap import SheetMap, SheetRecord, Side
from tracking import TrackingError, code128, datamatrix, format_control

#: Resource name of the placed source page on each sheet.
_PAGE_NAME = pikepdf.Name("/Pg")
#: Resource name of the control DataMatrix image.
_CONTROL_NAME = pikepdf.Name("/Ctl")
#: Resource name of the tracking Code 128 image.
_TRACKING_NAME = pikepdf.Name("/Trk")
#: Resource name of the human-readable text font.
_FONT_NAME = pikepdf.Name("/FTrk")


@dataclass(frozen=True, slots=True)
class PieceInput:
    """One mail piece to impose: its id, its print-ready PDF, and its tracking id (None: no tracking barcode)."""

    piece_id: str
    pdf_path: Path
    tracking_id: str | None = None


def _open_piece(path: Path) -> pikepdf.Pdf:
    """Open a piece's PDF from memory (no file handle stays open per piece) and refuse encrypted or empty ones."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadablePdf(path, exc.strerror or str(exc)) from None
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise EncryptedPdf(path) from None
    except pikepdf.PdfError as exc:
        raise UnreadablePdf(path, str(exc)) from None
    if pdf.is_encrypted:
        raise EncryptedPdf(path)
    if len(pdf.pages) == 0:
        raise EmptyPdf(path)
    return pdf


def _displayed_size(page: pikepdf.Page) -> tuple[float, float]:
    """Width and height of the page as viewed: its trim box (what a Form XObject of it shows), rotation applied."""
    box = page.trimbox
    width, height = abs(float(box[2]) - float(box[0])), abs(float(box[3]) - float(box[1]))
    if int(page.obj.get("/Rotate", 0)) % 180 == 90:
        return height, width
    return width, height


def _check_a4(path: Path, number: int, page: pikepdf.Page) -> None:
    """Refuse a page that is not A4 portrait within the tolerance."""
    width, height = _displayed_size(page)
    if abs(width - A4_WIDTH) > A4_TOLERANCE or abs(height - A4_HEIGHT) > A4_TOLERANCE:
        raise WrongPageSize(path, number, width, height, "A4 portrait, 210 × 297 mm within 2 mm")


def _control_marks(out: pikepdf.Pdf, sheet: pikepdf.Page, text: str, piece_id: str, layout: MarkLayout) -> bytes:
    """Add the control DataMatrix image to ``sheet``; return the content that draws it in the control zone."""
    try:
        bitmap = marks.symbol_bitmap(datamatrix(text), layout.control_quiet_modules)
    except TrackingError as exc:
        raise MarkError(piece_id, str(exc)) from None
    zone = layout.control_zone
    box = Rect(zone.x, zone.y, bitmap.shape[1] * layout.control_module, bitmap.shape[0] * layout.control_module)
    if not zone.contains(box):
        raise MarkError(piece_id, f"the control code {text!r} needs {box.w / zone.w:.0%} of the control zone; shorten the job or piece id")
    sheet.obj.Resources.XObject[_CONTROL_NAME] = marks.image_xobject(out, bitmap)
    return marks.draw_image(str(_CONTROL_NAME), box, A4_HEIGHT)


def _tracking_marks(out: pikepdf.Pdf, sheet: pikepdf.Page, tracking_id: str, piece_id: str, layout: MarkLayout) -> bytes:
    """Add the tracking Code 128 to ``sheet``; return the content that draws the bars and the text under them."""
    try:
        bitmap = marks.linear_bitmap(code128(tracking_id), layout.tracking_quiet_modules)
    except TrackingError as exc:
        raise MarkError(piece_id, str(exc)) from None
    zone = layout.tracking_zone
    bars = Rect(zone.x, zone.y, bitmap.shape[1] * layout.tracking_module, layout.tracking_bar_height)
    baseline = bars.y + bars.h + layout.tracking_text_gap + marks.ascent(layout.tracking_font, layout.tracking_font_size)
    if not zone.contains(bars) or baseline > zone.y + zone.h + 1e-6:
        raise MarkError(piece_id, f"the tracking barcode of {tracking_id!r} does not fit its {zone.w:.0f} × {zone.h:.0f} pt zone")
    width = marks.text_width(tracking_id, layout.tracking_font, layout.tracking_font_size)
    sheet.obj.Resources.XObject[_TRACKING_NAME] = marks.image_xobject(out, bitmap)
    sheet.obj.Resources.Font = pikepdf.Dictionary({str(_FONT_NAME): marks.helvetica_font(out, layout.tracking_font)})
    return marks.draw_image(str(_TRACKING_NAME), bars, A4_HEIGHT) + marks.draw_text(
        str(_FONT_NAME), layout.tracking_font_size, tracking_id, bars.x + (bars.w - width) / 2, baseline, A4_HEIGHT
    )


def _new_sheet(out: pikepdf.Pdf, source: pikepdf.Page) -> pikepdf.Page:
    """Append a blank A4 sheet to ``out`` with ``source`` placed on it unscaled and centred."""
    sheet = out.add_blank_page(page_size=(A4_WIDTH, A4_HEIGHT))
    form = out.copy_foreign(source.as_form_xobject())
    sheet.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary({str(_PAGE_NAME): form}))
    placement = sheet.calc_form_xobject_placement(
        form, _PAGE_NAME, pikepdf.Rectangle(0, 0, A4_WIDTH, A4_HEIGHT), allow_shrink=False, allow_expand=False
    )
    sheet.obj.Contents = out.make_stream(b"q\n" + placement + b"\nQ\n")
    return sheet


def _impose_piece(out: pikepdf.Pdf, piece: PieceInput, job_id: str, layout: MarkLayout, first_sheet: int) -> list[SheetRecord]:
    """Put every page of one piece on its own sheet with its marks; return the records of those sheets."""
    src = _open_piece(piece.pdf_path)
    count = len(src.pages)
    records = []
    for number, page in enumerate(src.pages, start=1):
        _check_a4(piece.pdf_path, number, page)
        sheet = _new_sheet(out, page)
        try:
            control = format_control(job_id, piece.piece_id, number, count)
        except TrackingError as exc:
            raise MarkError(piece.piece_id, str(exc)) from None
        content = _control_marks(out, sheet, control, piece.piece_id, layout)
        if number == 1 and piece.tracking_id is not None:
            content += _tracking_marks(out, sheet, piece.tracking_id, piece.piece_id, layout)
        sheet.contents_add(out.make_stream(content))
        records.append(SheetRecord(first_sheet + number - 1, Side.FRONT, piece.piece_id, number, number, count))
    return records


def _write_atomically(pdf: pikepdf.Pdf, out_path: Path) -> None:
    """Save ``pdf`` to a temporary file beside ``out_path``, fsync it, rename it over ``out_path``, fsync the folder."""
    out_path = Path(out_path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            pdf.save(stream, deterministic_id=True)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(out_path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def impose_1up(pieces: Sequence[PieceInput], out_path: Path, job_id: str, layout: MarkLayout = MarkLayout()) -> SheetMap:
    """Impose ``pieces`` 1-up simplex on A4 into ``out_path`` and return the job's sheet map.

    Every page of every piece becomes one sheet, in order. Each sheet gets the control DataMatrix
    ``job_id|piece_id|i/n`` in ``layout.control_zone``; each piece's first sheet gets its tracking id as Code 128
    with the text under it in ``layout.tracking_zone``. Raises an :class:`~imposition.errors.ImpositionError`
    naming the file and page for unreadable, encrypted or non-A4 input; then no output file is written.
    """
    seen: set[str] = set()
    for piece in pieces:
        if piece.piece_id in seen:
            raise DuplicatePiece(piece.piece_id)
        seen.add(piece.piece_id)
    out = pikepdf.new()
    records: list[SheetRecord] = []
    for piece in pieces:
        records += _impose_piece(out, piece, job_id, layout, first_sheet=len(records) + 1)
    _write_atomically(out, out_path)
    return SheetMap(job_id, tuple(records))
