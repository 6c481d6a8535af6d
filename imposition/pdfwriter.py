"""A streaming PDF writer: objects go to the file as soon as they are made, so memory stays flat with job
size.

Why not build the job in pikepdf and save it? Measured on the plant's letters, qpdf's ``copy_foreign`` +
``save`` keeps every source document alive until the end (its streams are read at save time) and still costs
more per page than serialising each piece's objects straight away. Here each piece is opened with pikepdf
(qpdf parses and repairs it), its reachable objects are unparsed by qpdf, renumbered into the output and
written at once; the piece is then closed. What stays in memory is one integer offset per object and one per
page.

Source content streams are copied with their original filters (no decode, no re-encode). Output is PDF 1.7
with a classic cross-reference table.
"""

from __future__ import annotations

import re
import zlib
from array import array
from decimal import Decimal
from typing import BinaryIO, NamedTuple

import pikepdf

#: Header: version line plus a binary comment so transfer tools treat the file as binary.
_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
#: Object number of the catalog (reserved up front so pages can point at the page tree before it is written).
CATALOG = 1
#: Object number of the root page tree node.
PAGES = 2
#: Matches literal strings (skipped) and indirect references ``n g R`` in qpdf's unparsed output.
_REFERENCE = re.compile(rb"\((?:\\.|[^\\)])*\)|(\d+) (\d+) R")
#: Matches a stream dictionary's top-level ``/Length`` entry in qpdf's unparsed output (``/Length1`` does not
#: match).
_LENGTH = re.compile(rb"/Length (?:\d+ \d+ R|\d+)")
#: Page-tree types never copied through a form's resources (they would drag in the whole source document).
_TREE_TYPES = (pikepdf.Name.Page, pikepdf.Name.Pages)


class Checkpoint(NamedTuple):
    """Where a :class:`PdfStreamWriter` stood: file position, objects and pages so far."""

    pos: int
    objects: int
    pages: int


class PdfStreamWriter:
    """Write a PDF object by object to a binary stream; call :meth:`close` to write the page tree and xref."""

    def __init__(self, stream: BinaryIO) -> None:
        self._out = stream
        self._pos = 0
        # Machine-integer arrays, not lists: 8 bytes per object and page instead of ~40 (-1 = not yet
        # written).
        self._offsets = array("q", [0, -1, -1])
        self._pages = array("q")
        self._emit(_HEADER)

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self._pos += len(data)

    def reserve(self) -> int:
        """Reserve the next object number; write it later with :meth:`write`."""
        self._offsets.append(-1)
        return len(self._offsets) - 1

    def write(self, number: int, body: bytes) -> int:
        """Write object ``number`` with ``body`` (its serialised value); return ``number``."""
        self._offsets[number] = self._pos
        self._emit(b"%d 0 obj\n%s\nendobj\n" % (number, body))
        return number

    def add(self, body: bytes) -> int:
        """Write a new object with ``body``; return its number."""
        return self.write(self.reserve(), body)

    def add_stream(self, entries: bytes, data: bytes, compress: bool = False) -> int:
        """Write a new stream object with dictionary ``entries`` (without ``<< >>`` and /Length); return its
        number."""
        if compress:
            data = zlib.compress(data, 6)
            entries += b" /Filter /FlateDecode"
        return self.add(b"<< %s /Length %d >>\nstream\n%s\nendstream" % (entries, len(data), data))

    def add_page(self, entries: bytes) -> int:
        """Write a page object with dictionary ``entries`` (its /Parent is added); append it to the
        document."""
        number = self.add(b"<< /Type /Page /Parent %d 0 R %s >>" % (PAGES, entries))
        self._pages.append(number)
        return number

    def checkpoint(self) -> Checkpoint:
        """Where the writer stands now, for :meth:`rollback`."""
        return Checkpoint(self._pos, len(self._offsets), len(self._pages))

    def rollback(self, checkpoint: Checkpoint) -> None:
        """Forget every object and page written or reserved since ``checkpoint`` and cut them from the file
        (the stream must be seekable). Nothing written before the checkpoint may refer to them."""
        self._out.seek(checkpoint.pos)
        self._out.truncate()
        self._pos = checkpoint.pos
        del self._offsets[checkpoint.objects :]
        del self._pages[checkpoint.pages :]

    @property
    def page_count(self) -> int:
        """Pages written so far."""
        return len(self._pages)

    def close(self) -> None:
        """Write the page tree, the catalog, the cross-reference table and the trailer. The stream stays
        open."""
        kids = b" ".join(b"%d 0 R" % n for n in self._pages)
        self.write(PAGES, b"<< /Type /Pages /Count %d /Kids [%s] >>" % (len(self._pages), kids))
        self.write(CATALOG, b"<< /Type /Catalog /Pages %d 0 R >>" % PAGES)
        missing = [n for n, offset in enumerate(self._offsets) if offset < 0]
        if missing:
            raise RuntimeError(f"objects {missing[:5]} were reserved but never written")
        start = self._pos
        rows = [b"%010d 00000 n \n" % offset for offset in self._offsets[1:]]
        self._emit(b"xref\n0 %d\n0000000000 65535 f \n%s" % (len(self._offsets), b"".join(rows)))
        self._emit(
            b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(self._offsets), CATALOG, start)
        )


class ForeignObjects:
    """Copies objects of one source document into a :class:`PdfStreamWriter`, each reachable object once.

    :meth:`serialise` turns a source object into output bytes, queueing the indirect objects it refers to;
    :meth:`flush` writes the queue. Use one instance per source document and drop it with the document.
    """

    def __init__(self, writer: PdfStreamWriter, source: pikepdf.Pdf) -> None:
        self._writer = writer
        self._source = source
        self._numbers: dict[tuple[int, int], int] = {}
        self._queue: list[tuple[int, int]] = []

    def _renumber(self, match: re.Match[bytes]) -> bytes:
        if match.group(1) is None:
            return match.group(0)
        key = (int(match.group(1)), int(match.group(2)))
        number = self._numbers.get(key)
        if number is None:
            number = self._numbers[key] = self._writer.reserve()
            self._queue.append(key)
        return b"%d 0 R" % number

    def serialise(self, obj: pikepdf.Object) -> bytes:
        """Output bytes of ``obj``'s value (an indirect ``obj`` is written in full, not as a reference)."""
        return _REFERENCE.sub(self._renumber, obj.unparse(resolved=True))

    def reference(self, obj: pikepdf.Object) -> bytes:
        """Output bytes that stand for ``obj``: a renumbered reference when indirect, else its value."""
        if obj.is_indirect:
            return self.serialise_ref(obj.objgen)
        return self.serialise(obj)

    def copy(self, obj: pikepdf.Object) -> int:
        """Queue indirect ``obj`` for writing (once); return its output object number. Call :meth:`flush`."""
        self.serialise_ref(obj.objgen)
        return self._numbers[obj.objgen]

    def serialise_ref(self, objgen: tuple[int, int]) -> bytes:
        """A renumbered reference to source object ``objgen``, queued for writing."""
        return _REFERENCE.sub(self._renumber, b"%d %d R" % objgen)

    def _body(self, obj: object) -> bytes:
        if not isinstance(obj, pikepdf.Object):
            # pikepdf hands indirect numbers, booleans and null over as Python values (a /Length, a /Count).
            return scalar(obj)
        if isinstance(obj, pikepdf.Stream):
            raw = obj.read_raw_bytes()
            # The source's /Length goes before renumbering (an indirect one is then not copied at all).
            entries = _LENGTH.sub(b"", obj.stream_dict.unparse(resolved=True), count=1)
            entries = _REFERENCE.sub(self._renumber, entries)
            return b"<< /Length %d %s\nstream\n%s\nendstream" % (len(raw), entries[2:], raw)
        if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") in _TREE_TYPES:
            return b"null"
        return self.serialise(obj)

    def flush(self) -> None:
        """Write every queued object (and what they refer to, transitively)."""
        while self._queue:
            key = self._queue.pop()
            self._writer.write(self._numbers[key], self._body(self._source.get_object(key)))


def scalar(value: object) -> bytes:
    """PDF bytes of a scalar pikepdf gives as a Python value: bool, int, Decimal (a real), float, None."""
    if value is None:
        return b"null"
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, Decimal | float):
        text = format(Decimal(value) if isinstance(value, float) else value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return (text if text not in ("", "-", "-0") else "0").encode("ascii")
    raise TypeError(f"not a PDF scalar: {type(value).__name__}")
