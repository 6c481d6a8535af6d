"""The checks of one letter PDF, run in a pre-flight child (:mod:`plant.intake.sandbox`) on untrusted bytes.

Everything here works on plain values: the PDF's bytes, a :class:`CheckSpec` (page size, the clear zones, the
address field, all in points measured from the page's top-left) and the manifest's address lines. It opens the
bytes with PDFium (pypdfium2) once and answers with a :class:`Verdict`: ok with a page count, or a code, a
message that says what to fix (lengths in millimetres), the findings with their rectangles, and low-resolution
renderings of the offending pages from which the parent draws the overlay. It never reads a file, never
imports :mod:`plant`'s ledger or settings, and is only ever called one letter at a time per process
(PDFium is not thread-safe).
"""

from __future__ import annotations

import base64
import io
import re
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    import pypdfium2 as pdfium

    from imposition.pagebox import PageBox

#: Millimetres per PDF point.
MM_PER_PT = 25.4 / 72
#: The 14 standard PDF fonts: a PDF may use them without embedding them.
STANDARD_FONTS = frozenset(
    {
        "Courier",
        "Courier-Bold",
        "Courier-Oblique",
        "Courier-BoldOblique",
        "Helvetica",
        "Helvetica-Bold",
        "Helvetica-Oblique",
        "Helvetica-BoldOblique",
        "Times-Roman",
        "Times-Bold",
        "Times-Italic",
        "Times-BoldItalic",
        "Symbol",
        "ZapfDingbats",
    }
)
#: Resolution of the page pictures returned for overlays, dpi.
OVERLAY_DPI = 50.0
#: Nesting depth of form XObjects followed when looking for fonts.
MAX_FORM_DEPTH = 8
#: Page objects inspected for fonts per page (beyond that the page is judged by what was seen).
MAX_OBJECTS_PER_PAGE = 20_000
#: Most pages rendered into an overlay.
MAX_OVERLAY_PAGES = 4


class Code:
    """Rejection codes of pre-flight (stable: senders match on them)."""

    NOT_PDF = "NOT_PDF"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    BROKEN_PDF = "BROKEN_PDF"
    ENCRYPTED = "ENCRYPTED"
    NO_PAGES = "NO_PAGES"
    TOO_MANY_PAGES = "TOO_MANY_PAGES"
    PAGE_SIZE = "PAGE_SIZE"
    PAGE_LANDSCAPE = "PAGE_LANDSCAPE"
    ADDRESS_OUTSIDE_WINDOW = "ADDRESS_OUTSIDE_WINDOW"
    ADDRESS_MISMATCH = "ADDRESS_MISMATCH"
    CONTROL_ZONE_NOT_CLEAR = "CONTROL_ZONE_NOT_CLEAR"
    BARCODE_ZONE_NOT_CLEAR = "BARCODE_ZONE_NOT_CLEAR"
    OMR_ZONE_NOT_CLEAR = "OMR_ZONE_NOT_CLEAR"
    FONT_NOT_EMBEDDED = "FONT_NOT_EMBEDDED"
    TIMEOUT = "PREFLIGHT_TIMEOUT"
    CPU_LIMIT = "PREFLIGHT_CPU_LIMIT"
    MEMORY_LIMIT = "PREFLIGHT_MEMORY_LIMIT"
    CRASHED = "PREFLIGHT_CRASHED"


Box = tuple[float, float, float, float]  # x, y, w, h in points from the page's top-left


@dataclass(frozen=True)
class Zone:
    """A clear zone: where the plant prints, so the letter must leave it white."""

    name: str
    code: str
    rect: Box
    #: Only the first page (the one behind the window) carries this zone.
    first_page_only: bool = False


@dataclass(frozen=True)
class CheckSpec:
    """What a letter is checked against; plain values so it crosses into the child as JSON."""

    max_pages: int
    page_width: float
    page_height: float
    tolerance: float
    #: The address field (DIN 5008 form B) on the first page.
    window: Box
    zones: tuple[Zone, ...]
    zone_dpi: float = 72.0
    white_level: int = 250
    allow_standard_fonts: bool = True

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of the spec."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckSpec:
        """The spec back from :meth:`to_json`."""
        zones = tuple(
            Zone(z["name"], z["code"], tuple(z["rect"]), z["first_page_only"]) for z in data["zones"]
        )
        return cls(**{**data, "zones": zones, "window": tuple(data["window"])})


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the letter, where (page index from 0, rectangle) when geometric."""

    code: str
    message: str
    page: int | None = None
    rect: Box | None = None
    #: Where it should have been (the window field), drawn as an outline on the overlay.
    expected: Box | None = None


@dataclass(frozen=True)
class PagePicture:
    """A greyscale rendering of one page for the overlay (zlib-compressed 8-bit rows)."""

    page: int
    width_px: int
    height_px: int
    width_pt: float
    height_pt: float
    pixels: bytes


@dataclass(frozen=True)
class Verdict:
    """The outcome of pre-flight: ok with a page count, or a rejection code, a reason and its findings."""

    ok: bool
    pages: int = 0
    code: str = ""
    reason: str = ""
    findings: tuple[Finding, ...] = ()
    pictures: tuple[PagePicture, ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (pictures base64) — the only form a verdict leaves the child in."""
        data = asdict(self)
        data["pictures"] = [{**p, "pixels": base64.b64encode(p["pixels"]).decode()} for p in data["pictures"]]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        """Rebuild a verdict sent by a child, checking its shape (a child is not trusted)."""
        findings = tuple(
            Finding(
                str(f["code"]),
                str(f["message"]),
                _opt_int(f.get("page")),
                _opt_box(f.get("rect")),
                _opt_box(f.get("expected")),
            )
            for f in data.get("findings", ())
        )
        pictures = tuple(
            PagePicture(
                int(p["page"]),
                int(p["width_px"]),
                int(p["height_px"]),
                float(p["width_pt"]),
                float(p["height_pt"]),
                base64.b64decode(p["pixels"]),
            )
            for p in data.get("pictures", ())
        )
        return cls(
            bool(data["ok"]),
            int(data.get("pages", 0)),
            str(data.get("code", "")),
            str(data.get("reason", "")),
            findings,
            pictures,
        )


def reject(
    code: str,
    reason: str,
    pages: int = 0,
    findings: Sequence[Finding] = (),
    pictures: Sequence[PagePicture] = (),
) -> Verdict:
    """A rejection verdict."""
    return Verdict(
        False, pages=pages, code=code, reason=reason, findings=tuple(findings), pictures=tuple(pictures)
    )


#: What a file that is no PDF looks like, by its first bytes: (magic, what it is).
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (or a Word, Excel or OpenDocument file, which are ZIP archives too)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Microsoft Office document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"{\\rtf", "an RTF document"),
    (b"%!PS", "a PostScript file"),
)
#: Permission bit 3 of a PDF's /P entry: the document may be printed.
_MAY_PRINT = 1 << 2


def sniff(head: bytes) -> Verdict | None:
    """Refuse bytes that are plainly not a PDF (from their first KiB), naming what they look like."""
    if not head:
        return reject(Code.NOT_PDF, "the file is empty (0 bytes); send the letter as a PDF.")
    kind = next((what for magic, what in _MAGIC if head.startswith(magic)), None)
    if kind is None and b"%PDF-" in head[:1024]:
        return None  # PDFium, like Acrobat, takes a header anywhere in the first KiB
    if kind is None and re.match(rb"\s*<\s*(!doctype|html|body|head)", head[:1024], re.I):
        kind = "an HTML page"
    if kind is None:
        return reject(
            Code.NOT_PDF,
            "the file does not start like a PDF (there is no %PDF- header in its first KiB); "
            "export the letter as PDF and send that file.",
        )
    return reject(
        Code.NOT_PDF, f"the file is {kind}, not a PDF; export the letter as PDF and send that file."
    )


def check(data: bytes, spec: CheckSpec, address: Sequence[str] = (), duplex: bool = False) -> Verdict:
    """Check letter ``data`` against ``spec``; ``address`` are the manifest's address lines (empty: no check).

    ``duplex``: the letter is printed on both sides of its leaves, so an envelope of ``spec.max_pages`` sheets
    takes twice as many pages.

    The verdict depends on ``data`` alone, never on the letters checked before in the same process: see
    :func:`_open`.
    """
    early = sniff(data[:1024])
    if early is not None:
        return early
    pdf, refused = _open(data)
    if pdf is None:
        return refused or _broken(data)
    try:
        return _check_document(pdf, spec, address, duplex, data)
    finally:
        pdf.close()


#: The name pre-flight gives the letter in the messages of the shared page geometry (they name no file).
_LETTER = "letter.pdf"


def measure(data: bytes, pages: int) -> list[PageBox] | Verdict | None:
    """Every page's effective box as imposition measures it (:func:`imposition.pagebox.page_box`, on the PDF
    as qpdf reads it), or the rejection of the first page whose boxes imposition could not place.

    None when qpdf cannot open the file or counts other than ``pages`` pages: imposition refuses such a file
    on its own grounds (unreadable, ``PAGE_COUNT``), which are not the page geometry's.
    """
    from pathlib import Path

    import pikepdf

    from imposition.errors import PageDoesNotFit
    from imposition.pagebox import page_box

    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - imposition refuses what qpdf cannot open, as unreadable
        return None
    try:
        if len(pdf.pages) != pages:
            return None
        boxes = []
        for number, page in enumerate(pdf.pages, start=1):
            try:
                boxes.append(page_box(page, Path(_LETTER), number))
            except PageDoesNotFit as exc:
                return reject(
                    Code.PAGE_SIZE, f"page {number} cannot be printed as it is: {exc.reason}.", pages
                )
        return boxes
    except Exception:  # noqa: BLE001 - a page tree qpdf cannot walk: imposition refuses it as unreadable
        return None
    finally:
        pdf.close()


def _fits(box: PageBox, index: int, spec: CheckSpec) -> Finding | None:
    """Imposition's own verdict on the page (:func:`imposition.pieces.page_matrix`, neither turned nor
    scaled): the last word when the configured tolerance is wider than imposition's."""
    from pathlib import Path

    from imposition.errors import ImpositionError
    from imposition.pieces import Normalise, page_matrix

    try:
        page_matrix(Path(_LETTER), index + 1, box, Normalise(rotate_landscape=False, scale_to_fit=False))
    except ImpositionError:
        w_mm, h_mm = (v * MM_PER_PT for v in box.shown)
        return Finding(
            Code.PAGE_SIZE,
            f"page {index + 1} ({_which(box)}) is {w_mm:.1f} × {h_mm:.1f} mm; the plant prints A4 portrait, "
            "210 × 297 mm within 2 mm: re-export the page as A4.",
        )
    return None


def _fix(box: PageBox | None) -> str:
    """How a sender fixes a page of the wrong size."""
    if box is None or box.name == "MediaBox":
        return "re-export the page as A4"
    return f"set its {box.name} to A4 (210 × 297 mm) or re-export the page as A4"


def _which(box: PageBox | None) -> str:
    """What was measured, for a sender: the box that is printed."""
    if box is None or box.name == "MediaBox":
        return "its page size"
    return f"its {box.name}, the part of the page that is printed"


def _open(data: bytes) -> tuple[pdfium.PdfDocument | None, Verdict | None]:
    """Open ``data`` with PDFium without a password: (the document, None), or (None, the rejection, or None
    when the bytes are a damaged PDF). PDFium reads ``data`` in place: it must outlive the document.

    PDFium's ``FPDF_GetLastError`` is set only when a load *fails* and is never cleared, so it must be read
    right after the failing call. pypdfium2's ``PdfDocument(bytes)`` does not: it also raises for a document
    that opened fine with an empty page tree, and then reports whatever error the previous failing letter of
    the same process left behind ("Incorrect password" after another sender's encrypted letter, "Success" in a
    fresh process), and leaks the document. So the document is loaded here through the raw API: a NULL
    handle is classified from the error of this very call, cross-checked against the bytes (a PDF that asks
    for a password has an ``/Encrypt`` entry), and an opened document is handed to pypdfium2 whatever its page
    count — an empty page tree is ``NO_PAGES``, decided by :func:`_check_document`.
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    handle = raw.FPDF_LoadMemDocument64(data, len(data), None)
    if not handle:
        error = raw.FPDF_GetLastError()
        if error == raw.FPDF_ERR_PASSWORD and b"/Encrypt" in data:
            return None, reject(
                Code.ENCRYPTED,
                "the PDF needs a password to open; send it without a password (save or export it again "
                "with no document-open password).",
            )
        if error == raw.FPDF_ERR_SECURITY and b"/Encrypt" in data:
            return None, reject(
                Code.ENCRYPTED,
                "the PDF is protected by a security scheme the plant cannot open (a certificate or rights "
                "management); save it without protection and send it again.",
            )
        return None, None
    pdf = pdfium.PdfDocument(handle)
    if raw.FPDF_GetSecurityHandlerRevision(handle) != -1:
        permissions = raw.FPDF_GetDocUserPermissions(handle) & 0xFFFFFFFF
        if not permissions & _MAY_PRINT:
            pdf.close()
            return None, reject(
                Code.ENCRYPTED,
                "the PDF's security settings do not allow printing; save it without a password or "
                "restrictions and send it again.",
            )
    return pdf, None


def _broken(data: bytes) -> Verdict:
    """The rejection of bytes that start like a PDF but do not open as one."""
    if b"%%EOF" not in data[-2048:]:
        return reject(
            Code.BROKEN_PDF,
            "the PDF is incomplete (its end is missing, as when a download or an export stops early) and "
            "cannot be read; export it again and send the whole file.",
        )
    return reject(
        Code.BROKEN_PDF,
        "the PDF's internal structure is damaged and cannot be read; export it again from the application "
        "that made it.",
    )


def _check_document(
    pdf: pdfium.PdfDocument, spec: CheckSpec, address: Sequence[str], duplex: bool = False, data: bytes = b""
) -> Verdict:
    import pypdfium2 as pdfium

    pages = len(pdf)
    if pages == 0:
        return reject(
            Code.NO_PAGES,
            "the PDF has no pages (its page list is empty); export the letter again with its pages.",
        )
    leaves = -(-pages // 2) if duplex else pages
    if leaves > spec.max_pages:
        printed = f"{pages} pages, {leaves} sheets printed duplex" if duplex else f"{pages} pages"
        most = f"{spec.max_pages} sheet{'s' if spec.max_pages != 1 else ''}"
        return reject(
            Code.TOO_MANY_PAGES,
            f"the letter has {printed}, but the largest envelope takes {most}; "
            "split the letter or send it as a large letter.",
            pages=pages,
        )
    geometry = measure(data, pages) if data else None
    if isinstance(geometry, Verdict):
        return geometry
    boxes: list[PageBox | None] = list(geometry) if geometry is not None else [None] * pages
    index = 0
    findings: list[Finding] = []
    pictures: list[PagePicture] = []
    try:
        for index, box in enumerate(boxes):
            size = box.shown if box is not None else pdf.get_page_size(index)
            problem = _size_problem(size, index, spec, box)
            if problem is None and box is not None:
                problem = _fits(box, index, spec)
            if problem is not None:
                return reject(problem.code, problem.message, pages=pages)
        for index, box in enumerate(boxes):
            page = pdf[index]
            try:
                unit = _show(page, box)
                findings.extend(_zone_findings(page, index, spec, unit))
                if index == 0 and address:
                    findings.extend(_address_findings(page, spec, address, unit))
                findings.extend(_font_findings(page, index, spec))
            finally:
                page.close()
        if not findings:
            return Verdict(True, pages=pages)
        for index in sorted({f.page for f in findings if f.page is not None})[:MAX_OVERLAY_PAGES]:
            pictures.append(_picture(pdf, index, boxes[index]))
    except pdfium.PdfiumError:
        return reject(
            Code.BROKEN_PDF,
            f"page {index + 1} of {pages} cannot be read (the PDF's page structure is damaged); export the "
            "letter again from the application that made it.",
            pages=pages,
        )
    first = findings[0]
    reason = "; ".join(dict.fromkeys(f.message for f in findings))
    return reject(first.code, reason, pages=pages, findings=findings, pictures=pictures)


def _show(page: pdfium.PdfPage, box: PageBox | None) -> float:
    """Make PDFium show ``page`` as imposition places it (its effective box as the crop box, its rotation);
    return the page's user unit (PDFium ignores ``/UserUnit``: the checks scale by it)."""
    if box is None:
        return 1.0
    page.set_cropbox(*box.corners)
    page.set_rotation(box.rotate)
    return box.unit


def _size_problem(
    size: tuple[float, float], index: int, spec: CheckSpec, box: PageBox | None = None
) -> Finding | None:
    width, height = size

    def near(a: float, b: float) -> bool:
        return abs(a - b) <= spec.tolerance

    if near(width, spec.page_width) and near(height, spec.page_height):
        return None
    w_mm, h_mm = width * MM_PER_PT, height * MM_PER_PT
    if near(width, spec.page_height) and near(height, spec.page_width):
        return Finding(
            Code.PAGE_LANDSCAPE,
            f"page {index + 1} ({_which(box)}) is A4 landscape ({w_mm:.0f} × {h_mm:.0f} mm); the "
            "plant prints A4 portrait (210 × 297 mm): rotate the page to portrait.",
        )
    return Finding(
        Code.PAGE_SIZE,
        f"page {index + 1} ({_which(box)}) is {w_mm:.0f} × {h_mm:.0f} mm; the plant prints A4 portrait "
        f"(210 × 297 mm): {_fix(box)}.",
    )


def _render_box(
    page: pdfium.PdfPage, box: Box, dpi: float, width: float, height: float
) -> tuple[bytes, int, int, float]:
    """Render only ``box`` of ``page`` in greyscale: (rows without padding, width px, height px, scale)."""
    x, y, w, h = box
    scale = dpi / 72
    crop = (max(x, 0.0), max(height - y - h, 0.0), max(width - x - w, 0.0), max(y, 0.0))
    bitmap = page.render(scale=scale, crop=crop, grayscale=True, draw_annots=True, may_draw_forms=False)
    try:
        cols, rows, stride = bitmap.width, bitmap.height, bitmap.stride
        raw = bytes(bitmap.buffer)
    finally:
        bitmap.close()
    if stride != cols:
        raw = b"".join(raw[r * stride : r * stride + cols] for r in range(rows))
    return raw, cols, rows, scale


def _zone_findings(page: pdfium.PdfPage, index: int, spec: CheckSpec, unit: float = 1.0) -> list[Finding]:
    """Ink in the clear zones of ``page``; ``unit`` its points per user-space unit (zones are in points)."""
    width, height = page.get_size()
    found: list[Finding] = []
    for zone in spec.zones:
        if zone.first_page_only and index:
            continue
        inside = (zone.rect[0] / unit, zone.rect[1] / unit, zone.rect[2] / unit, zone.rect[3] / unit)
        raw, cols, rows, scale = _render_box(page, inside, spec.zone_dpi * unit, width, height)
        if not raw.translate(None, _WHITE[spec.white_level]):
            continue
        scale /= unit  # pixels per point
        ink = _ink_box(raw, cols, rows, spec.white_level)
        x0, y0 = zone.rect[0] + ink[0] / scale, zone.rect[1] + ink[1] / scale
        rect = (x0, y0, max((ink[2] - ink[0]) / scale, 1.0), max((ink[3] - ink[1]) / scale, 1.0))
        zx, zy, zw, zh = (v * MM_PER_PT for v in zone.rect)
        found.append(
            Finding(
                zone.code,
                f"text or graphics at {x0 * MM_PER_PT:.0f} mm from the left edge and "
                f"{y0 * MM_PER_PT:.0f} mm from the top inside the {zone.name} "
                f"({zx:.0f}–{zx + zw:.0f} mm from the left, {zy:.0f}–{zy + zh:.0f} mm from "
                f"the top) on page {index + 1}; leave that area white",
                page=index,
                rect=rect,
                expected=zone.rect,
            )
        )
    return found


#: For each white level, the bytes that count as white (deleted by ``bytes.translate`` to find ink fast).
_WHITE = {level: bytes(range(level, 256)) for level in range(256)}


def _ink_box(raw: bytes, cols: int, rows: int, level: int) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) of everything darker than ``level``."""
    white = _WHITE[level]
    ys = [r for r in range(rows) if raw[r * cols : (r + 1) * cols].translate(None, white)]
    xs = [c for r in ys for c, v in enumerate(raw[r * cols : (r + 1) * cols]) if v < level]
    return min(xs), ys[0], max(xs) + 1, ys[-1] + 1


def normalise(text: str) -> str:
    """Text compared for the address: NFKC, case-folded, with every whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def _address_findings(
    page: pdfium.PdfPage, spec: CheckSpec, address: Sequence[str], unit: float = 1.0
) -> list[Finding]:
    frame = _Frame(page, unit)
    textpage = page.get_textpage()
    try:
        inside = normalise(textpage.get_text_bounded(*frame.to_page(spec.window)))
        missing = [line for line in address if line.strip() and normalise(line) not in inside]
        if not missing:
            return []
        wx, wy, ww, wh = (v * MM_PER_PT for v in spec.window)
        field_mm = f"{wx:.0f}–{wx + ww:.0f} mm from the left, {wy:.0f}–{wy + wh:.0f} mm from the top"
        where = _locate(textpage, missing[0], frame)
        if where is not None:
            return [
                Finding(
                    Code.ADDRESS_OUTSIDE_WINDOW,
                    f"the address line {missing[0]!r} is at {where[0] * MM_PER_PT:.0f} mm from the left and "
                    f"{where[1] * MM_PER_PT:.0f} mm from the top, outside the window field ({field_mm}); "
                    "move the address into the field",
                    page=0,
                    rect=where,
                    expected=spec.window,
                )
            ]
        return [
            Finding(
                Code.ADDRESS_MISMATCH,
                f"the window field ({field_mm}) does not show the manifest's address line(s) "
                f"{', '.join(repr(m) for m in missing)}; print the manifest's address there",
                page=0,
                rect=spec.window,
            )
        ]
    finally:
        textpage.close()


class _Frame:
    """Between a box on the page as shown (points from its top-left) and the page's own user space (its crop
    box, turned by its rotation, in user units)."""

    def __init__(self, page: pdfium.PdfPage, unit: float) -> None:
        self.x0, self.y0, x1, y1 = page.get_bbox()
        self.w, self.h = x1 - self.x0, y1 - self.y0
        self.rotate = page.get_rotation() % 360
        self.unit = unit

    def _point(self, dx: float, dy: float) -> tuple[float, float]:
        """User-space point of the shown point ``dx``, ``dy`` (user units from the shown top-left)."""
        w, h = self.w, self.h
        u, v = {
            0: (dx, h - dy),
            90: (dy, dx),
            180: (w - dx, dy),
            270: (w - dy, h - dx),
        }[self.rotate]
        return self.x0 + u, self.y0 + v

    def to_page(self, box: Box) -> tuple[float, float, float, float]:
        """``box`` (shown, points from the top-left) as (left, bottom, right, top) in user space."""
        x, y, w, h = (v / self.unit for v in box)
        corners = [self._point(x, y), self._point(x + w, y + h)]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        return min(xs), min(ys), max(xs), max(ys)

    def _shown_point(self, x: float, y: float) -> tuple[float, float]:
        """The shown point (user units from the shown top-left) of the user-space point ``x``, ``y``."""
        u, v, w, h = x - self.x0, y - self.y0, self.w, self.h
        return {0: (u, h - v), 90: (v, u), 180: (w - u, v), 270: (h - v, w - u)}[self.rotate]

    def to_shown(self, left: float, bottom: float, right: float, top: float) -> Box:
        """A user-space rectangle as shown: (x, y, w, h) in points from the shown top-left."""
        corners = [self._shown_point(left, bottom), self._shown_point(right, top)]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        unit = self.unit
        return (
            min(xs) * unit,
            min(ys) * unit,
            max((max(xs) - min(xs)) * unit, 1.0),
            max((max(ys) - min(ys)) * unit, 1.0),
        )


def _locate(textpage: pdfium.PdfTextPage, line: str, frame: _Frame) -> Box | None:
    """Where ``line`` is printed on the page (top-left box in points), or None."""
    searcher = textpage.search(line.strip(), match_case=False, match_whole_word=False)
    try:
        hit = searcher.get_next()
    finally:
        searcher.close()
    if hit is None:
        return None
    start, count = hit
    boxes = [textpage.get_charbox(i) for i in range(start, start + count)]
    x0, x1 = min(b[0] for b in boxes), max(b[2] for b in boxes)
    y_top, y_bottom = max(b[3] for b in boxes), min(b[1] for b in boxes)
    return frame.to_shown(x0, y_bottom, x1, y_top)


def _font_findings(page: pdfium.PdfPage, index: int, spec: CheckSpec) -> list[Finding]:
    import pypdfium2.raw as raw

    missing: dict[str, None] = {}
    seen: set[int] = set()
    budget = [MAX_OBJECTS_PER_PAGE]

    def visit(
        count_fn: Callable[[Any], int], get_fn: Callable[[Any, int], Any], owner: Any, depth: int
    ) -> None:
        for i in range(count_fn(owner)):
            if budget[0] <= 0:
                return
            budget[0] -= 1
            obj = get_fn(owner, i)
            kind = raw.FPDFPageObj_GetType(obj)
            if kind == raw.FPDF_PAGEOBJ_TEXT:
                font = raw.FPDFTextObj_GetFont(obj)
                key = _address_of(font)
                if key in seen:
                    continue
                seen.add(key)
                if not raw.FPDFFont_GetIsEmbedded(font):
                    name = _font_name(raw, font)
                    if not (spec.allow_standard_fonts and name.split("+")[-1] in STANDARD_FONTS):
                        missing[name or "(unnamed)"] = None
            elif kind == raw.FPDF_PAGEOBJ_FORM and depth < MAX_FORM_DEPTH:
                visit(raw.FPDFFormObj_CountObjects, raw.FPDFFormObj_GetObject, obj, depth + 1)

    visit(raw.FPDFPage_CountObjects, raw.FPDFPage_GetObject, page.raw, 0)
    if not missing:
        return []
    names = ", ".join(missing)
    return [
        Finding(
            Code.FONT_NOT_EMBEDDED,
            f"page {index + 1} uses the font(s) {names} without embedding them; "
            "export the PDF with all fonts embedded",
            page=index,
        )
    ]


def _address_of(handle: Any) -> int:
    import ctypes

    return ctypes.addressof(handle.contents) if handle else 0


def _font_name(raw: ModuleType, font: Any) -> str:
    import ctypes

    size = raw.FPDFFont_GetBaseFontName(font, None, 0)
    if size <= 0:
        return ""
    buffer = ctypes.create_string_buffer(size)
    raw.FPDFFont_GetBaseFontName(font, buffer, size)
    return buffer.value.decode("utf-8", "replace")


def _picture(pdf: pdfium.PdfDocument, index: int, box: PageBox | None = None) -> PagePicture:
    page = pdf[index]
    try:
        unit = _show(page, box)
        width, height = (v * unit for v in page.get_size())
        bitmap = page.render(scale=OVERLAY_DPI / 72 * unit, grayscale=True, may_draw_forms=False)
        try:
            cols, rows, stride = bitmap.width, bitmap.height, bitmap.stride
            data = bytes(bitmap.buffer)
        finally:
            bitmap.close()
    finally:
        page.close()
    if stride != cols:
        data = b"".join(data[r * stride : r * stride + cols] for r in range(rows))
    return PagePicture(index, cols, rows, width, height, zlib.compress(data, 6))


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_box(value: Any) -> Box | None:
    if value is None:
        return None
    x, y, w, h = (float(v) for v in value)
    return (x, y, w, h)
