"""Mail pieces in: open each piece's PDF, normalise its pages onto A4 leaves, copy them as Form XObjects.

Normalisation decides, per page, the matrix that puts the page as displayed (its effective box,
:func:`imposition.pagebox.page_box`: the trim box cut to the media box, ``/Rotate`` and ``/UserUnit``
applied) onto a portrait A4 leaf: landscape pages are turned a quarter (when allowed), pages within 2 mm of A4
are placed unscaled and centred, other sizes are scaled to fit (when allowed) or refused with the file and
page named.

Each page becomes a Form XObject by one of two paths, chosen per piece:

* **fast** (:func:`write_page_form`): the form's content is the page's own content stream copied with its
  filters, and every object it reaches is unparsed by qpdf and streamed out (:class:`ForeignObjects`);
* **fallback** (:func:`write_pages_via_qpdf`): qpdf makes each page a Form XObject
  (``pikepdf.Page.as_form_xobject``, after flattening printable annotations), copies them into a scratch
  document (``copy_foreign``), writes that document (decrypted, repaired, lengths recomputed) and the fast
  copier streams the clean forms out.

The fallback runs when a cheap test says the fast copy could be wrong (:func:`fallback_reason`: the file is
encrypted, qpdf had to repair it, or a page shows annotations the fast copy leaves out), or when the fast copy
of the piece fails; then everything it wrote of the piece is rolled back first.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import SupportsFloat

import pikepdf

from imposition.errors import (
    EmptyPdf,
    EncryptedPdf,
    ImpositionError,
    PageCountMismatch,
    PageDoesNotFit,
    UnreadablePdf,
    WrongPageSize,
    short_cause,
)
from imposition.geometry import A4_HEIGHT, A4_TOLERANCE, A4_WIDTH, PT_PER_MM
from imposition.pagebox import PageBox, page_box
from imposition.pdfwriter import ForeignObjects, PdfStreamWriter

#: An affine matrix ``(a, b, c, d, e, f)`` as in a PDF ``cm`` operator.
Matrix = tuple[float, float, float, float, float, float]
#: The identity matrix.
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
#: Widest difference between a page's aspect ratio and A4's that scale-to-fit still takes (beyond it the page
#: would come out with wide white bands; refuse instead).
MAX_ASPECT_DIFFERENCE = 0.25
#: Annotation flags (PDF 32000-1 12.5.3): hidden, print.
_HIDDEN, _PRINT = 2, 4
#: Errors that are never the input's fault: they pass through instead of becoming :class:`UnreadablePdf`
#: (output file errors, memory, our own refusals).
_NOT_THE_INPUT = (ImpositionError, OSError, MemoryError)
#: The key of the scratch document's catalog that holds the fallback's forms.
_FORMS = pikepdf.Name("/ImpositionForms")


@dataclass(frozen=True, slots=True)
class PieceInput:
    """One mail piece to impose.

    ``piece_id`` names it in the control codes; ``pdf_path`` is its print-ready PDF; ``tracking_id`` (None: no
    tracking barcode) is printed in the window; ``postage`` is the postage mark's payload text (None: no
    mark); ``simplex`` marks a letter printed one page per leaf inside a duplex job; ``selects`` (feeder
    digits, e.g. ``"13"``) and ``flags`` (e.g. ``"D"`` divert) go into the control code. ``pages`` (None: not
    known) is the page count another reader found in the file (the plant's pre-flight): a damaged file that
    qpdf reads with another count is refused (:class:`PageCountMismatch`) rather than printed short.
    """

    piece_id: str
    pdf_path: Path
    tracking_id: str | None = None
    postage: str | None = None
    simplex: bool = False
    selects: str = ""
    flags: str = ""
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class Normalise:
    """What may be done to a page that is not A4 portrait: turn landscape pages, scale other sizes to fit."""

    rotate_landscape: bool = True
    scale_to_fit: bool = False


def open_piece(path: Path) -> pikepdf.Pdf:
    """Open a piece's PDF from memory (no file handle stays open per piece), repairing it if qpdf can.

    Files encrypted with an owner password only open (with the empty user password) and are imposed
    decrypted; files that need a password to open, or whose security settings forbid printing, are refused
    (:class:`EncryptedPdf`), and so are empty (:class:`EmptyPdf`) and unreadable ones
    (:class:`UnreadablePdf`).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadablePdf(path, exc.strerror or str(exc)) from None
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise EncryptedPdf(path) from None
    except _NOT_THE_INPUT:
        raise
    except Exception as exc:
        raise UnreadablePdf(path, short_cause(exc)) from exc
    try:
        if pdf.is_encrypted and not pdf.allow.print_lowres:
            raise EncryptedPdf(path, "does not allow printing (its security settings forbid it)")
        if len(pdf.pages) == 0:
            raise EmptyPdf(path)
    except _NOT_THE_INPUT:
        pdf.close()
        raise
    except Exception as exc:
        pdf.close()
        raise UnreadablePdf(path, short_cause(exc)) from exc
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


def page_matrix(path: Path, number: int, box: PageBox, normalise: Normalise) -> Matrix:
    """The matrix from a page's own space onto a portrait A4 leaf (origin bottom-left), or refuse the page.

    ``box`` is the page's effective box (:func:`imposition.pagebox.page_box`: trim box cut to the media box,
    ``/Rotate`` and ``/UserUnit``); ``path`` and ``number`` name the page in refusals.
    """
    x0, y0, _x1, _y1 = box.corners
    width, height = box.width * box.unit, box.height * box.unit
    shown_w, shown_h = box.shown
    turn = box.rotate
    if shown_w > shown_h + A4_TOLERANCE:
        if not normalise.rotate_landscape:
            raise WrongPageSize(
                path,
                number,
                shown_w,
                shown_h,
                "A4 portrait (landscape pages are not turned: allow rotate_landscape)",
                box.name,
            )
        turn, shown_w, shown_h = box.rotate + 270, shown_h, shown_w
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
                box.name,
            )
        if aspect > MAX_ASPECT_DIFFERENCE:
            mm = 1 / PT_PER_MM
            raise PageDoesNotFit(
                path,
                number,
                f"{shown_w * mm:.0f} × {shown_h * mm:.0f} mm is too far from A4's shape to scale (its "
                f"{box.name}); ask the sender for A4",
            )
        scale = min(A4_WIDTH / shown_w, A4_HEIGHT / shown_h)
    matrix = multiply((1.0, 0.0, 0.0, 1.0, -x0, -y0), (box.unit, 0.0, 0.0, box.unit, 0.0, 0.0))
    matrix = multiply(matrix, _turn(turn, width, height))
    matrix = multiply(matrix, (scale, 0.0, 0.0, scale, 0.0, 0.0))
    dx, dy = (A4_WIDTH - shown_w * scale) / 2, (A4_HEIGHT - shown_h * scale) / 2
    return multiply(matrix, (1.0, 0.0, 0.0, 1.0, dx, dy))


def _number_list(values: Iterable[SupportsFloat]) -> bytes:
    return b"[%s]" % b" ".join(b"%.4f" % float(v) for v in values)


def write_page_form(writer: PdfStreamWriter, foreign: ForeignObjects, page: pikepdf.Page) -> int:
    """Write ``page`` as a Form XObject (its effective box as /BBox, its content as is); return the object
    number. The page's boxes were checked by :func:`~imposition.pagebox.page_box` before."""
    bbox = page_box(page, Path("page.pdf"), 0).corners
    entries = [b"/Type /XObject /Subtype /Form /BBox %s" % _number_list(bbox)]
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


@dataclass(frozen=True, slots=True)
class WrittenPiece:
    """A piece's pages as written, in order, and why it took the fallback path (None: the fast path)."""

    pages: list[PlacedPage]
    fallback: str | None


def _needs_appearances(pdf: pikepdf.Pdf) -> bool:
    """Whether the document's form asks the viewer to make its fields' appearances."""
    acroform = pdf.Root.get("/AcroForm")
    if not isinstance(acroform, pikepdf.Dictionary):
        return False
    need: object = acroform.get("/NeedAppearances")
    return need is True


def _shows_annotations(pdf: pikepdf.Pdf, page: pikepdf.Page) -> bool:
    """Whether ``page`` has an annotation that prints (an appearance stream, the print flag, not hidden), or a
    form field whose appearance the viewer is asked to make (``/NeedAppearances``)."""
    annots = page.obj.get("/Annots")
    if not isinstance(annots, pikepdf.Array) or len(annots) == 0:
        return False
    need = _needs_appearances(pdf)
    for annot in annots:
        if not isinstance(annot, pikepdf.Dictionary):
            continue
        if need and annot.get("/Subtype") == pikepdf.Name.Widget:
            return True
        flags = annot.get("/F", 0)
        flags = flags if isinstance(flags, int) else 0
        if "/AP" in annot and flags & _PRINT and not flags & _HIDDEN:
            return True
    return False


def fallback_reason(pdf: pikepdf.Pdf) -> str | None:
    """Why ``pdf`` must take the fallback path, or None when the fast copy is exact.

    Cheap tests only: encrypted (qpdf's writer is the authority on decrypting every stream and string),
    repaired (qpdf warned while reading it), a page shows annotations (the fast copy takes the page content
    alone; the fallback flattens them into it).
    """
    if pdf.is_encrypted:
        return "encrypted"
    if pdf.get_warnings():
        return "repaired"
    if any(_shows_annotations(pdf, page) for page in pdf.pages):
        return "annotations"
    return None


def _check_repaired(pdf: pikepdf.Pdf, path: Path) -> None:
    """Refuse a repaired file in which a page lost its content: qpdf drops references to objects it could not
    find, so a file cut short would otherwise come out with blank pages."""
    for number, page in enumerate(pdf.pages, start=1):
        if page.obj.get("/Contents") is None:
            raise UnreadablePdf(path, f"page {number} has lost its content: the file is damaged or cut short")


def _write_fast(writer: PdfStreamWriter, pdf: pikepdf.Pdf) -> list[int]:
    foreign = ForeignObjects(writer, pdf)
    return [write_page_form(writer, foreign, page) for page in pdf.pages]


def write_pages_via_qpdf(
    writer: PdfStreamWriter, pdf: pikepdf.Pdf, flatten: bool, boxes: list[PageBox] | None = None
) -> list[int]:
    """The fallback path: write every page of ``pdf`` as the Form XObject qpdf makes of it; return the object
    numbers.

    With ``flatten``, printable annotations are first merged into the page content (form fields that ask for
    it get appearance streams). The forms (``boxes``' effective boxes as /BBox — None: the trim boxes —, no
    /Matrix: the same geometry as the fast path)
    are copied into a scratch document, which qpdf writes and reads back, so what is streamed out has been
    decrypted, repaired and re-measured by qpdf.
    """
    if flatten:
        if _needs_appearances(pdf):
            pdf.generate_appearance_streams()
        pdf.flatten_annotations("print")
    scratch = pikepdf.new()
    forms = []
    for index, page in enumerate(pdf.pages):
        form = page.as_form_xobject(handle_transformations=False)
        if boxes is not None:
            form.BBox = pikepdf.Array(boxes[index].corners)
        forms.append(scratch.copy_foreign(form))
    scratch.Root[_FORMS] = pikepdf.Array(forms)
    buffer = io.BytesIO()
    scratch.save(buffer, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    scratch.close()
    with pikepdf.open(buffer) as clean:
        foreign = ForeignObjects(writer, clean)
        numbers = [foreign.copy(form) for form in clean.Root[_FORMS]]
        foreign.flush()
    return numbers


def write_piece(writer: PdfStreamWriter, piece: PieceInput, normalise: Normalise) -> WrittenPiece:
    """Open ``piece``, write each of its pages as a Form XObject, close it; return the pages in order and the
    path taken.

    Pages are checked before anything is written, so a refused piece leaves no objects behind. The fast path
    runs unless :func:`fallback_reason` names a reason; if it fails, what it wrote is rolled back and the
    fallback runs. Any failure to read the piece is an :class:`UnreadablePdf` (never a library exception).
    """
    path = piece.pdf_path
    pdf = open_piece(path)
    try:
        if piece.pages is not None and len(pdf.pages) != piece.pages:
            raise PageCountMismatch(path, piece.pages, len(pdf.pages))
        boxes = [page_box(page, path, number) for number, page in enumerate(pdf.pages, start=1)]
        matrices = [page_matrix(path, number, box, normalise) for number, box in enumerate(boxes, start=1)]
        reason = fallback_reason(pdf)
        if reason == "repaired":
            _check_repaired(pdf, path)
        if reason is None:
            checkpoint = writer.checkpoint()
            try:
                numbers = _write_fast(writer, pdf)
            except _NOT_THE_INPUT:
                raise
            except Exception:
                writer.rollback(checkpoint)
                reason = "fast path failed"
        if reason is not None:
            numbers = write_pages_via_qpdf(writer, pdf, reason == "annotations", boxes)
        pages = [PlacedPage(n, m) for n, m in zip(numbers, matrices, strict=True)]
        return WrittenPiece(pages, reason)
    except _NOT_THE_INPUT:
        raise
    except Exception as exc:
        raise UnreadablePdf(path, short_cause(exc)) from exc
    finally:
        pdf.close()
