"""Mail pieces in: open each piece's PDF, normalise its pages onto A4 leaves, copy them as Form XObjects.

Normalisation decides, per page, the matrix that puts the page as displayed (its trim box, ``/Rotate``
applied) onto a portrait A4 leaf: landscape pages are turned a quarter (when allowed), pages within 2 mm of A4
are placed unscaled and centred, other sizes are scaled to fit (when allowed) or refused with the file and
page named. Each page becomes a Form XObject whose content is the page's own content stream copied with its
filters.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import SupportsFloat

import pikepdf

from imposition.errors import EmptyPdf, EncryptedPdf, PageDoesNotFit, UnreadablePdf, WrongPageSize
from imposition.geometry import A4_HEIGHT, A4_TOLERANCE, A4_WIDTH, PT_PER_MM
from imposition.pdfwriter import ForeignObjects, PdfStreamWriter

#: An affine matrix ``(a, b, c, d, e, f)`` as in a PDF ``cm`` operator.
Matrix = tuple[float, float, float, float, float, float]
#: The identity matrix.
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
#: Widest difference between a page's aspect ratio and A4's that scale-to-fit still takes (beyond it the page
#: would come out with wide white bands; refuse instead).
MAX_ASPECT_DIFFERENCE = 0.25


@dataclass(frozen=True, slots=True)
class PieceInput:
    """One mail piece to impose.

    ``piece_id`` names it in the control codes; ``pdf_path`` is its print-ready PDF; ``tracking_id`` (None: no
    tracking barcode) is printed in the window; ``postage`` is the postage mark's payload text (None: no
    mark); ``simplex`` marks a letter printed one page per leaf inside a duplex job; ``selects`` (feeder
    digits, e.g. ``"13"``) and ``flags`` (e.g. ``"D"`` divert) go into the control code.
    """

    piece_id: str
    pdf_path: Path
    tracking_id: str | None = None
    postage: str | None = None
    simplex: bool = False
    selects: str = ""
    flags: str = ""


@dataclass(frozen=True, slots=True)
class Normalise:
    """What may be done to a page that is not A4 portrait: turn landscape pages, scale other sizes to fit."""

    rotate_landscape: bool = True
    scale_to_fit: bool = False


def open_piece(path: Path) -> pikepdf.Pdf:
    """Open a piece's PDF from memory (no file handle stays open per piece) and refuse encrypted or empty
    ones."""
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


def multiply(m: Matrix, n: Matrix) -> Matrix:
    """The matrix that applies ``m`` first, then ``n`` (PDF's ``m × n``)."""
    a, b, c, d, e, f = m
    p, q, r, s, t, u = n
    return (a * p + b * r, a * q + b * s, c * p + d * r, c * q + d * s, e * p + f * r + t, e * q + f * s + u)


def _turn(degrees: int, width: float, height: float) -> Matrix:
    """Turn a ``width × height`` box at the origin clockwise by ``degrees`` (a multiple of 90), back into the
    positive quadrant."""
    return {
        0: IDENTITY,
        90: (0.0, -1.0, 1.0, 0.0, 0.0, width),
        180: (-1.0, 0.0, 0.0, -1.0, width, height),
        270: (0.0, 1.0, -1.0, 0.0, height, 0.0),
    }[degrees % 360]


def page_matrix(
    path: Path, number: int, box: tuple[float, float, float, float], rotate: int, normalise: Normalise
) -> Matrix:
    """The matrix from a page's own space onto a portrait A4 leaf (origin bottom-left), or refuse the page.

    ``box`` is the page's trim box, ``rotate`` its ``/Rotate``; ``path`` and ``number`` name it in refusals.
    """
    x0, y0, x1, y1 = min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])
    width, height = x1 - x0, y1 - y0
    if width < 1 or height < 1:
        raise PageDoesNotFit(
            path, number, f"its page box {list(box)} has no area; ask the sender to fix the PDF"
        )
    if rotate % 90:
        raise PageDoesNotFit(path, number, f"/Rotate {rotate} is not a multiple of 90")
    shown_w, shown_h = (height, width) if rotate % 180 else (width, height)
    turn = rotate
    if shown_w > shown_h + A4_TOLERANCE:
        if not normalise.rotate_landscape:
            raise WrongPageSize(
                path,
                number,
                shown_w,
                shown_h,
                "A4 portrait (landscape pages are not turned: allow rotate_landscape)",
            )
        turn, shown_w, shown_h = rotate + 270, shown_h, shown_w
    scale = 1.0
    if abs(shown_w - A4_WIDTH) > A4_TOLERANCE or abs(shown_h - A4_HEIGHT) > A4_TOLERANCE:
        aspect = abs(shown_w / shown_h - A4_WIDTH / A4_HEIGHT) / (A4_WIDTH / A4_HEIGHT)
        if not normalise.scale_to_fit:
            raise WrongPageSize(
                path,
                number,
                shown_w,
                shown_h,
                "A4 portrait, 210 × 297 mm within 2 mm (or allow scale-to-fit)",
            )
        if aspect > MAX_ASPECT_DIFFERENCE:
            mm = 1 / PT_PER_MM
            raise PageDoesNotFit(
                path,
                number,
                f"{shown_w * mm:.0f} × {shown_h * mm:.0f} mm is too far from A4's "
                "shape to scale; ask the sender for A4",
            )
        scale = min(A4_WIDTH / shown_w, A4_HEIGHT / shown_h)
    matrix = multiply((1.0, 0.0, 0.0, 1.0, -x0, -y0), _turn(turn, width, height))
    matrix = multiply(matrix, (scale, 0.0, 0.0, scale, 0.0, 0.0))
    dx, dy = (A4_WIDTH - shown_w * scale) / 2, (A4_HEIGHT - shown_h * scale) / 2
    return multiply(matrix, (1.0, 0.0, 0.0, 1.0, dx, dy))


def _number_list(values: Iterable[SupportsFloat]) -> bytes:
    return b"[%s]" % b" ".join(b"%.4f" % float(v) for v in values)


def _trim_box(page: pikepdf.Page) -> tuple[float, float, float, float]:
    """The page's trim box as four numbers (a malformed box's numbers past the fourth are not read)."""
    box = [float(v) for v in page.trimbox]
    return box[0], box[1], box[2], box[3]


def write_page_form(writer: PdfStreamWriter, foreign: ForeignObjects, page: pikepdf.Page) -> int:
    """Write ``page`` as a Form XObject (its trim box as /BBox, its content as is); return the object
    number."""
    entries = [b"/Type /XObject /Subtype /Form /BBox %s" % _number_list(page.trimbox)]
    resources = page.resources
    if resources is not None:
        entries.append(b"/Resources " + foreign.reference(resources))
    group = page.obj.get("/Group")
    if group is not None:
        entries.append(b"/Group " + foreign.reference(group))
    contents = page.obj.get("/Contents")
    if isinstance(contents, pikepdf.Stream):
        data = contents.read_raw_bytes()
        for key in ("/Filter", "/DecodeParms"):
            if key in contents.stream_dict:
                entries.append(key.encode() + b" " + foreign.serialise(contents.stream_dict[key]))
    elif isinstance(contents, pikepdf.Array):
        data = zlib.compress(b"\n".join(part.read_bytes() for part in contents), 6)
        entries.append(b"/Filter /FlateDecode")
    else:
        data = b""
    number = writer.add(b"<< %s /Length %d >>\nstream\n%s\nendstream" % (b" ".join(entries), len(data), data))
    foreign.flush()
    return number


@dataclass(frozen=True, slots=True)
class PlacedPage:
    """A source page written as a Form XObject: its object ``number`` and the ``matrix`` onto an A4 leaf."""

    number: int
    matrix: Matrix


def write_piece(writer: PdfStreamWriter, piece: PieceInput, normalise: Normalise) -> list[PlacedPage]:
    """Open ``piece``, write each of its pages as a Form XObject, close it; return the pages in order.

    Pages are checked before anything is written, so a refused piece leaves no objects behind.
    """
    pdf = open_piece(piece.pdf_path)
    try:
        matrices = [
            page_matrix(piece.pdf_path, number, _trim_box(page), page.rotation, normalise)
            for number, page in enumerate(pdf.pages, start=1)
        ]
        foreign = ForeignObjects(writer, pdf)
        return [
            PlacedPage(write_page_form(writer, foreign, page), matrix)
            for page, matrix in zip(pdf.pages, matrices, strict=True)
        ]
    except pikepdf.PdfError as exc:
        raise UnreadablePdf(piece.pdf_path, str(exc)) from None
    finally:
        pdf.close()
