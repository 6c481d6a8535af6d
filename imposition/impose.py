"""Impose a job: pieces in, a print-ready PDF of marked press sheets and the sheet map out, streamed.

Pieces are read one at a time in job order. Each piece's pages are written at once as Form XObjects
(:mod:`imposition.pieces`), its leaves get their marks (control DataMatrix on every leaf side, OMR track on
fronts, tracking Code 128 and postage mark on the first page), and the leaves wait in the open cut stack
(:class:`imposition.layout.Stacker`). When a stack closes, its sheets are dealt and written. So memory holds
one piece and one stack, never the job; the file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from imposition import marks as draw
from imposition.errors import DuplicatePiece, ImpositionError, MarkError, OmrGeometryError
from imposition.geometry import A4_HEIGHT, A4_WIDTH, MarkLayout, Rect
from imposition.layout import BLANK, Layout, Stacker, deal, plan_leaves
from imposition.omr import OmrSpec
from imposition.pdfwriter import PdfStreamWriter
from imposition.pieces import Matrix, Normalise, PieceInput, PlacedPage, write_piece
from imposition.sheetmap import CopyPaths, SheetMap, SheetRecord, Side
from tracking import TrackingError, code128, datamatrix, format_control

#: Resource name of the tracking text font on every sheet.
_FONT = "/FTrk"
#: Output buffer size: sheets are small objects; a large buffer turns them into few writes.
_BUFFER = 1 << 20


@dataclass(frozen=True, slots=True)
class Marks:
    """Which marks to print and where (``geometry``); ``omr`` None prints no OMR track."""

    control: bool = True
    tracking: bool = True
    postage: bool = True
    crop: bool = True
    omr: OmrSpec | None = None
    geometry: MarkLayout = field(default_factory=MarkLayout)

    @classmethod
    def none(cls) -> Marks:
        """No marks at all: the pages alone (for proofs and comparisons)."""
        return cls(control=False, tracking=False, postage=False, crop=False)


class Symbol(NamedTuple):
    """A code symbol to stamp into a raster: module ``matrix`` (no quiet zone), module edge and bar height in
    points (``bar_height`` None for 2-D symbols), light modules around it."""

    matrix: np.ndarray
    module: float
    quiet: int
    bar_height: float | None


class SheetStamp(NamedTuple):
    """A symbol on an output page: ``box`` on its leaf (top-left origin, points), the leaf's ``slot``
    rectangle and whether the leaf is ``turned`` 180° on the sheet."""

    symbol: Symbol
    box: Rect
    slot: Rect
    turned: bool


@dataclass(slots=True)
class _LeafSide:
    """What is drawn on one side of a leaf: the page's form (None: blank), its matrix, the marks' content, and
    the symbols left out of the content for a raster writer to stamp."""

    form: int | None
    matrix: Matrix
    content: bytes
    page: int
    stamps: list[tuple[Symbol, Rect]] = field(default_factory=list)


@dataclass(slots=True)
class _Leaf:
    piece_id: str
    number: int
    of: int
    front: _LeafSide
    back: _LeafSide | None


def _cm(matrix: Matrix) -> bytes:
    return b"%s cm" % b" ".join(draw.fmt(v).encode() for v in matrix)


class _Marker:
    """Makes the content of each leaf side's marks (leaf coordinates: A4, origin bottom-left)."""

    def __init__(self, job_id: str, marks: Marks, layout: Layout, stamping: bool) -> None:
        self.job_id = job_id
        #: Symbols of the side being marked, when they go to a raster writer instead of the PDF (else None).
        self.stamps: list[tuple[Symbol, Rect]] | None = [] if stamping else None
        self.marks = marks
        self.geometry = marks.geometry
        self.leaves_made = 0
        omr = marks.omr
        if omr is not None and layout.duplexed and marks.control:
            zone = self.geometry.control_zone
            behind = Rect(A4_WIDTH - zone.x - zone.w, zone.y, zone.w, zone.h)
            if layout.duplex.value == "tumble":
                behind = Rect(zone.x, A4_HEIGHT - zone.y - zone.h, zone.w, zone.h)
            if _overlap(behind, omr.clear_zone):
                raise OmrGeometryError("x/top", "puts the track behind the control code printed on the back")

    def _image(self, bitmap: np.ndarray, box: Rect, symbol: Symbol) -> bytes:
        """Draw ``bitmap`` inline in ``box``, or keep ``symbol`` for the raster writer and draw nothing."""
        if self.stamps is not None:
            self.stamps.append((symbol, box))
            return b""
        return draw.inline_image(bitmap, box, A4_HEIGHT)

    def take_stamps(self) -> list[tuple[Symbol, Rect]]:
        """The symbols kept since the last call (empty when not stamping)."""
        if self.stamps is None:
            return []
        taken, self.stamps = self.stamps, []
        return taken

    def control(self, piece: PieceInput, number: int, of: int, back: bool) -> bytes:
        """The control DataMatrix ``job|piece|i/n|selects|flags`` of one leaf side (flag R on backs);
        ``job|piece|i/n`` when the piece has neither selects nor flags."""
        if not self.marks.control:
            return b""
        flags = "".join(sorted(set(piece.flags + ("R" if back else ""))))
        try:
            # No selects and no flags: the three-field form, which every reader of the plant already takes.
            text = format_control(
                self.job_id, piece.piece_id, number, of, piece.selects or None, flags or None
            )
            matrix = datamatrix(text)
            bitmap = draw.symbol_bitmap(matrix, self.geometry.control_quiet_modules)
        except TrackingError as exc:
            raise MarkError(piece.piece_id, str(exc)) from None
        zone, module = self.geometry.control_zone, self.geometry.control_module
        box = Rect(zone.x, zone.y, bitmap.shape[1] * module, bitmap.shape[0] * module)
        if not zone.contains(box):
            raise MarkError(
                piece.piece_id,
                f"the control code {text!r} needs {box.w / zone.w:.0%} of the control "
                "zone; shorten the job or piece id",
            )
        return self._image(bitmap, box, Symbol(matrix, module, self.geometry.control_quiet_modules, None))

    def omr(self, piece: PieceInput, number: int, of: int) -> bytes:
        """The OMR track of a leaf's front (none without an OMR spec)."""
        if self.marks.omr is None:
            return b""
        self.leaves_made += 1
        return draw.rectangles(self.marks.omr.marks(number == of, piece.selects, self.leaves_made), A4_HEIGHT)

    def tracking(self, piece: PieceInput) -> bytes:
        """The tracking Code 128 and its text on a piece's first page (none without a tracking id)."""
        if not self.marks.tracking or piece.tracking_id is None:
            return b""
        g = self.geometry
        try:
            matrix = code128(piece.tracking_id)
            bitmap = draw.linear_bitmap(matrix, g.tracking_quiet_modules)
        except TrackingError as exc:
            raise MarkError(piece.piece_id, str(exc)) from None
        zone = g.tracking_zone
        bars = Rect(zone.x, zone.y, bitmap.shape[1] * g.tracking_module, g.tracking_bar_height)
        baseline = bars.y + bars.h + g.tracking_text_gap + draw.ascent(g.tracking_font, g.tracking_font_size)
        if not zone.contains(bars) or baseline > zone.y + zone.h + 1e-6:
            raise MarkError(
                piece.piece_id,
                f"the tracking barcode of {piece.tracking_id!r} does not fit its "
                f"{zone.w:.0f} × {zone.h:.0f} pt zone",
            )
        width = draw.text_width(piece.tracking_id, g.tracking_font, g.tracking_font_size)
        symbol = Symbol(matrix, g.tracking_module, g.tracking_quiet_modules, g.tracking_bar_height)
        return self._image(bitmap, bars, symbol) + draw.draw_text(
            _FONT, g.tracking_font_size, piece.tracking_id, bars.x + (bars.w - width) / 2, baseline, A4_HEIGHT
        )

    def postage(self, piece: PieceInput) -> bytes:
        """The postage mark (QR of the piece's postage payload) on its first page (none without a payload)."""
        if not self.marks.postage or piece.postage is None:
            return b""
        g = self.geometry
        try:
            matrix = draw.postage_matrix(piece.postage)
            bitmap = draw.symbol_bitmap(matrix, g.postage_quiet_modules)
        except TrackingError as exc:
            raise MarkError(piece.piece_id, str(exc)) from None
        zone = g.postage_zone
        box = Rect(zone.x, zone.y, bitmap.shape[1] * g.postage_module, bitmap.shape[0] * g.postage_module)
        if not zone.contains(box):
            raise MarkError(
                piece.piece_id,
                f"the postage mark needs {box.w / zone.w:.0%} of its zone; shorten the postage payload",
            )
        return self._image(bitmap, box, Symbol(matrix, g.postage_module, g.postage_quiet_modules, None))


def _overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _crop_marks(layout: Layout, geometry: MarkLayout) -> bytes:
    """Crop marks at every cut line, in the sheet's margin outside the leaves, where the margin has room."""
    width, height = layout.sheet.points
    ncols, nrows = layout.grid
    first, last = layout.slot_rect(0), layout.slot_rect(layout.n_up - 1)
    left, top, right, bottom = first.x, first.y, last.x + last.w, last.y + last.h
    reach = geometry.crop_offset + geometry.crop_length
    segments = []
    if top >= reach and height - bottom >= reach:
        for col in range(ncols + 1):
            x = left + col * A4_WIDTH
            segments += [
                (x, top - reach, x, top - geometry.crop_offset),
                (x, bottom + geometry.crop_offset, x, bottom + reach),
            ]
    if left >= reach and width - right >= reach:
        for row in range(nrows + 1):
            y = top + row * A4_HEIGHT
            segments += [
                (left - reach, y, left - geometry.crop_offset, y),
                (right + geometry.crop_offset, y, right + reach, y),
            ]
    return draw.lines(segments, geometry.crop_line_width, height)


class _Job:
    """One job being written: the open stack, the sheet map so far, the shared font."""

    def __init__(
        self,
        writer: PdfStreamWriter,
        job_id: str,
        layout: Layout,
        marks: Marks,
        normalise: Normalise,
        stamp_sink: list[list[SheetStamp]] | None = None,
    ):
        self.writer = writer
        self.stamp_sink = stamp_sink
        self.layout = layout
        self.marks = marks
        self.normalise = normalise
        self.marker = _Marker(job_id, marks, layout, stamping=stamp_sink is not None)
        self.stacker: Stacker[_Leaf] = Stacker(layout.n_up, layout.stack_depth, layout.pad_stacks)
        self.records: list[SheetRecord] = []
        self.sheets = 0
        self.stacks = 0
        self.font: int | None = None
        self.crop = _crop_marks(layout, marks.geometry) if marks.crop and layout.n_up > 1 else b""
        self.fast = self.fast_pages = self.fallback = self.fallback_pages = 0
        self.reasons: dict[str, int] = {}

    def paths(self) -> CopyPaths:
        """How the pieces so far were copied."""
        return CopyPaths(self.fast, self.fallback, self.fast_pages, self.fallback_pages, dict(self.reasons))

    def _font(self) -> int:
        if self.font is None:
            self.font = self.writer.add(
                b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>"
                % self.marks.geometry.tracking_font.encode("ascii")
            )
        return self.font

    def add(self, piece: PieceInput) -> None:
        """Write one piece's pages and queue its leaves; write any stack this closes. Every
        :class:`ImpositionError` this raises names the piece (``piece_id``)."""
        try:
            self._add(piece)
        except ImpositionError as exc:
            if exc.piece_id is None:
                exc.piece_id = piece.piece_id
            raise

    def _add(self, piece: PieceInput) -> None:
        written = write_piece(self.writer, piece, self.normalise)
        placed = written.pages
        if written.fallback is None:
            self.fast += 1
            self.fast_pages += len(placed)
        else:
            self.fallback += 1
            self.fallback_pages += len(placed)
            self.reasons[written.fallback] = self.reasons.get(written.fallback, 0) + 1
        leaves = []
        for plan in plan_leaves([len(placed)], self.layout.duplexed, [piece.simplex]):
            front = self._side(piece, placed, plan.front, plan.number, plan.of, back=False)
            back = (
                self._side(piece, placed, plan.back, plan.number, plan.of, back=True)
                if self.layout.duplexed
                else None
            )
            leaves.append(_Leaf(piece.piece_id, plan.number, plan.of, front, back))
        for stack in self.stacker.add(leaves, piece.piece_id):
            self._write_stack(stack)

    def _side(
        self, piece: PieceInput, placed: list[PlacedPage], page: int, number: int, of: int, back: bool
    ) -> _LeafSide:
        content = self.marker.control(piece, number, of, back)
        if not back:
            content += self.marker.omr(piece, number, of)
        if page == 0:
            content += self.marker.tracking(piece) + self.marker.postage(piece)
        stamps = self.marker.take_stamps()
        if page == BLANK:
            return _LeafSide(None, (1, 0, 0, 1, 0, 0), content, 0, stamps)
        return _LeafSide(placed[page].number, placed[page].matrix, content, page + 1, stamps)

    def finish(self) -> None:
        """Write the last, partly filled stack."""
        for stack in self.stacker.finish():
            self._write_stack(stack)

    def _leaf_matrix(self, slot: int, turned: bool) -> Matrix:
        rect = self.layout.slot_rect(slot)
        height = self.layout.sheet.points[1]
        if turned:
            return (-1.0, 0.0, 0.0, -1.0, rect.x + rect.w, height - rect.y)
        return (1.0, 0.0, 0.0, 1.0, rect.x, height - rect.y - rect.h)

    def _write_side(
        self, placements: list[tuple[int, bool, _Leaf, _LeafSide]], side: Side, extra: bytes
    ) -> None:
        xobjects, parts = [], [extra] if extra else []
        if self.stamp_sink is not None:
            self.stamp_sink.append(
                [
                    SheetStamp(symbol, box, self.layout.slot_rect(slot), turned)
                    for slot, turned, _, art in placements
                    for symbol, box in art.stamps
                ]
            )
        for slot, turned, leaf, art in placements:
            leaf_cm = _cm(self._leaf_matrix(slot, turned))
            body = art.content
            if art.form is not None:
                xobjects.append(b"/L%d %d 0 R" % (slot, art.form))
                body = b"q %s /L%d Do Q\n%s" % (_cm(art.matrix), slot, body)
            parts.append(b"q %s\n%s Q\n" % (leaf_cm, body))
            self.records.append(
                SheetRecord(
                    self.sheets, side, leaf.piece_id, art.page, leaf.number, leaf.of, slot + 1, self.stacks
                )
            )
        content = self.writer.add_stream(b"", b"".join(parts))
        resources = b"/XObject << %s >>" % b" ".join(xobjects)
        if any(b" Tf " in part for part in parts):
            resources += b" /Font << %s %d 0 R >>" % (_FONT.encode(), self._font())
        width, height = self.layout.sheet.points
        self.writer.add_page(
            b"/MediaBox [0 0 %s %s] /Resources << %s >> /Contents %d 0 R"
            % (draw.fmt(width).encode(), draw.fmt(height).encode(), resources, content)
        )

    def _write_stack(self, stack: list[_Leaf]) -> None:
        self.stacks += 1
        for row in deal(stack, self.layout.n_up):
            self.sheets += 1
            fronts = [(slot, False, leaf, leaf.front) for slot, leaf in enumerate(row) if leaf is not None]
            self._write_side(fronts, Side.FRONT, self.crop)
            if self.layout.duplexed:
                backs = []
                for slot, leaf in enumerate(row):
                    if leaf is not None and leaf.back is not None:  # duplexed: every leaf has a back
                        back_slot, turned = self.layout.back_slot(slot)
                        backs.append((back_slot, turned, leaf, leaf.back))
                self._write_side(sorted(backs, key=lambda b: b[0]), Side.BACK, b"")


@contextmanager
def atomic_output(out_path: Path) -> Iterator[BinaryIO]:
    """A binary file that appears at ``out_path`` only when the block completes (fsynced, renamed, folder
    fsynced)."""
    out_path = Path(out_path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb", buffering=_BUFFER) as stream:
            yield stream
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


def _unique(pieces: Iterable[PieceInput]) -> Iterator[PieceInput]:
    seen: set[str] = set()
    for piece in pieces:
        if piece.piece_id in seen:
            raise DuplicatePiece(piece.piece_id)
        seen.add(piece.piece_id)
        yield piece


#: The defaults of :func:`impose` (frozen dataclasses, so one instance serves every call).
_DEFAULT_LAYOUT, _DEFAULT_MARKS, _DEFAULT_NORMALISE = Layout(), Marks(), Normalise()


def impose(
    pieces: Iterable[PieceInput],
    out_path: Path,
    job_id: str,
    layout: Layout = _DEFAULT_LAYOUT,
    marks: Marks = _DEFAULT_MARKS,
    normalise: Normalise = _DEFAULT_NORMALISE,
) -> SheetMap:
    """Impose ``pieces`` (in job order) on press sheets by ``layout`` into ``out_path``; return the sheet map.

    Every piece starts on a fresh leaf; in duplex jobs a piece's pages pair up front/back (simplex pieces get
    blank backs). Each leaf side gets its control DataMatrix, fronts the OMR track when ``marks.omr`` is set,
    each piece's first page its tracking barcode and postage mark, n-up fronts crop marks where the margin has
    room. ``pieces`` may be a generator: it is consumed once, one piece at a time. Raises an
    :class:`~imposition.errors.ImpositionError` naming the file and page for input it cannot use (its
    ``piece_id`` set, ``code`` and ``senders_fault`` saying whose fault); then no output file is written.
    The map's ``paths`` counts the pieces each copy path took (:class:`~imposition.sheetmap.CopyPaths`).
    """
    return impose_with_stamps(pieces, out_path, job_id, layout, marks, normalise, None)


def impose_with_stamps(
    pieces: Iterable[PieceInput],
    out_path: Path,
    job_id: str,
    layout: Layout,
    marks: Marks,
    normalise: Normalise,
    stamp_sink: list[list[SheetStamp]] | None,
) -> SheetMap:
    """:func:`impose`, but with ``stamp_sink`` a list the code symbols are appended to (one list per output
    page) instead of being drawn in the PDF, for a raster writer to stamp at device pixels. None: draw
    them."""
    with atomic_output(out_path) as stream:
        writer = PdfStreamWriter(stream)
        job = _Job(writer, job_id, layout, marks, normalise, stamp_sink)
        for piece in _unique(pieces):
            job.add(piece)
        job.finish()
        writer.close()
    return SheetMap(job_id, tuple(job.records), job.paths())
