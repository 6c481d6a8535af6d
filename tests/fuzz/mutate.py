"""Mutations of letter PDFs: small pure functions ``(bytes, rng) -> bytes``, one per class, named.

Byte-level classes (truncation, byte flips) work on the letter as it is. Classes that need the file's layout
(xref table, startxref, /Length, objects) work on its *classic* form: the letter itself when it already has a
classic xref table and no object or xref streams, else the same objects re-serialised plain by
:func:`serialise`. Classes that bend the object graph (page-tree cycles, a form drawing itself, huge boxes and
images) edit it with pikepdf and write it with :func:`serialise` — never with qpdf's writer, which would
repair the damage they are meant to make. Everything is deterministic for a given ``rng``.
"""

from __future__ import annotations

import io
import random
import re
import zlib
from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

import pikepdf
from pikepdf import Array, Dictionary, Name

Mutation = Callable[[bytes, random.Random], bytes]

_OBJ = re.compile(rb"(?<![0-9])(\d+)\s+(\d+)\s+obj\b")
_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])")
_LENGTH = re.compile(rb"/Length\s+(\d+\s+\d+\s+R|-?\d+(?:\.\d+)?)")
_SIZE = re.compile(rb"/Size\s+\d+")


# ---- the classic form ------------------------------------------------------------------------------------
class Classic(NamedTuple):
    """A PDF split into its parts: the bytes before the first object, each object's ``(number, generation,
    body)`` (between ``obj`` and ``endobj``), and the trailer dictionary's text."""

    head: bytes
    objects: list[tuple[int, int, bytes]]
    trailer: bytes


def open_pdf(data: bytes) -> pikepdf.Pdf:
    """Open ``data`` with pikepdf, from memory."""
    return pikepdf.open(io.BytesIO(data))


def serialise(pdf: pikepdf.Pdf, header: bytes = b"%PDF-1.7") -> bytes:
    """Write every object of ``pdf`` plainly (no object streams, no xref stream) with a correct classic xref
    table, as they are: page-tree cycles, dangling references and the like are kept."""
    known = {o.objgen: o for o in pdf.objects if isinstance(o, pikepdf.Object) and o.objgen != (0, 0)}
    size = max(int(pdf.trailer.get("/Size", 0)), max((n for n, _ in known), default=0) + 1)
    taken = {n for n, _ in known}
    # indirect numbers, booleans and nulls come back from pikepdf as Python values, without their numbers
    for number in range(1, size):
        if number not in taken:
            value = pdf.get_object((number, 0))
            if value is not None:
                known[(number, 0)] = value
    objects = []
    for (number, generation), obj in sorted(known.items()):
        if isinstance(obj, pikepdf.Stream):
            if obj.stream_dict.get("/Type") in (Name.XRef, Name.ObjStm):
                continue
            raw = obj.read_raw_bytes()
            obj.stream_dict.Length = len(raw)
            body = obj.stream_dict.unparse(resolved=True) + b"\nstream\n" + raw + b"\nendstream"
        elif isinstance(obj, pikepdf.Object):
            body = obj.unparse(resolved=True)
        else:
            body = Array([obj]).unparse()[2:-2]
        objects.append((number, generation, body))
    trailer = Dictionary()
    for key in ("/Root", "/Info", "/ID"):
        if key in pdf.trailer:
            trailer[key] = pdf.trailer[key]
    trailer.Size = 0  # set by assemble
    return assemble(Classic(header + b"\n%\xe2\xe3\xcf\xd3\n", objects, trailer.unparse(resolved=True)))


def is_classic(data: bytes) -> bool:
    """Whether ``data`` has a classic xref table and neither object nor xref streams."""
    return b"\nxref" in data and not re.search(rb"/Type\s*/(?:XRef|ObjStm)\b", data)


def classic(data: bytes) -> bytes:
    """``data`` itself when it is classic, else its objects re-serialised plain."""
    if is_classic(data):
        return data
    return serialise(open_pdf(data), header=data.split(b"\n", 1)[0][:8] or b"%PDF-1.7")


def split(data: bytes) -> Classic:
    """Split classic ``data`` into head, objects and trailer text (see :class:`Classic`)."""
    found = list(_OBJ.finditer(data))
    table = data.rfind(b"\nxref")
    objects = []
    for index, match in enumerate(found):
        start = match.end()
        limit = found[index + 1].start() if index + 1 < len(found) else (table if table > 0 else len(data))
        end = data.rfind(b"endobj", start, limit)
        body = data[start : end if end > 0 else limit].strip(b"\r\n ")
        objects.append((int(match.group(1)), int(match.group(2)), body))
    at = data.rfind(b"trailer")
    tail = data[at + len(b"trailer") :] if at >= 0 else b"<< >>"
    trailer = tail[: tail.rfind(b"startxref")].strip() if b"startxref" in tail else tail.strip()
    head = data[: found[0].start()] if found else data[:16]
    return Classic(head, objects, trailer)


def assemble(parts: Classic, startxref: bytes | None = None) -> bytes:
    """Write ``parts`` with a correct classic xref table (gaps are free entries) and ``/Size``; ``startxref``
    replaces the true offset of the table when given."""
    out = io.BytesIO()
    out.write(parts.head)
    offsets: dict[int, tuple[int, int]] = {}
    for number, generation, body in parts.objects:
        offsets[number] = (out.tell(), generation)
        out.write(b"%d %d obj\n" % (number, generation) + body + b"\nendobj\n")
    table = out.tell()
    size = max(offsets, default=0) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    for number in range(1, size):
        offset, generation = offsets.get(number, (0, 65535))
        out.write(b"%010d %05d %s \n" % (offset, generation, b"n" if number in offsets else b"f"))
    trailer = parts.trailer
    trailer = _SIZE.sub(b"/Size %d" % size, trailer, count=1) if _SIZE.search(trailer) else trailer
    out.write(b"trailer\n" + trailer + b"\nstartxref\n")
    out.write((b"%d" % table if startxref is None else startxref) + b"\n%%EOF\n")
    return out.getvalue()


def _xref_span(data: bytes) -> tuple[int, int]:
    """Start and end of the last classic xref table in ``data`` (from ``xref`` to ``trailer``)."""
    start = data.rfind(b"\nxref") + 1
    end = data.find(b"trailer", start)
    return start, (end if end > 0 else len(data))


# ---- byte level ------------------------------------------------------------------------------------------
def truncate(data: bytes, rng: random.Random) -> bytes:
    """Cut the file short: anywhere, within its last tenth (losing xref and trailer), or just after the
    header."""
    size = len(data)
    pick = rng.random()
    if pick < 0.4:
        cut = rng.randrange(1, size)
    elif pick < 0.85:
        cut = size - rng.randrange(1, max(2, size // 10))
    else:
        cut = rng.randrange(9, min(size, 200))
    return data[:cut]


def byte_flips(data: bytes, rng: random.Random) -> bytes:
    """Damage 1–64 bytes anywhere: a flipped bit, a random byte, or a PDF delimiter or digit."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 5, 8, 16, 64))):
        at = rng.randrange(len(out))
        how = rng.random()
        if how < 0.5:
            out[at] ^= 1 << rng.randrange(8)
        elif how < 0.75:
            out[at] = rng.randrange(256)
        else:
            out[at] = rng.choice(b"0123456789()<>[]{}/% \n")
    return bytes(out)


# ---- the xref ---------------------------------------------------------------------------------------------
def xref_shift(data: bytes, rng: random.Random) -> bytes:
    """Shift offsets in the xref table: one entry, some, or all of them, by a few bytes or far."""
    data = classic(data)
    start, end = _xref_span(data)
    table = data[start:end]
    entries = [m for m in _ENTRY.finditer(table) if m.group(3) == b"n"]
    if not entries:
        return data
    how = rng.random()
    chosen = (
        entries
        if how < 0.3
        else [rng.choice(entries)]
        if how < 0.7
        else rng.sample(entries, rng.randrange(1, len(entries) + 1))
    )
    delta = rng.choice((-1, 1, -2, 2, -7, 7, -100, 100, 1000, rng.randrange(-len(data), len(data))))
    out = bytearray(table)
    for match in chosen:
        shifted = min(max(int(match.group(1)) + delta, 0), 9_999_999_999)
        out[match.start(1) : match.end(1)] = b"%010d" % shifted
    return data[:start] + bytes(out) + data[end:]


def xref_garble(data: bytes, rng: random.Random) -> bytes:
    """Garble the xref table: junk bytes in it, a wrong subsection header, a line dropped, doubled or swapped,
    an entry's type turned, or the ``xref`` keyword itself broken."""
    data = classic(data)
    start, end = _xref_span(data)
    lines = data[start:end].split(b"\n")
    how = rng.randrange(7)
    if how == 0:
        body = bytearray(b"\n".join(lines))
        for _ in range(rng.choice((1, 3, 10, 40))):
            body[rng.randrange(len(body))] = rng.choice(b"0123456789 nfx\n\r-")
        table = bytes(body)
    else:
        if how == 1 and len(lines) > 1:
            lines[1] = b"%d %d" % (rng.choice((0, 1, 5, 999999)), rng.choice((0, 1, 3, 7, 10_000, 2**31)))
        elif how == 2 and len(lines) > 3:
            del lines[rng.randrange(2, len(lines) - 1)]
        elif how == 3 and len(lines) > 3:
            at = rng.randrange(2, len(lines) - 1)
            lines.insert(at, lines[at])
        elif how == 4 and len(lines) > 4:
            a, b = rng.sample(range(2, len(lines) - 1), 2)
            lines[a], lines[b] = lines[b], lines[a]
        elif how == 5 and len(lines) > 3:
            at = rng.randrange(2, len(lines) - 1)
            line = lines[at]
            lines[at] = line.replace(b" n", b" f") if b" n" in line else line.replace(b" f", b" n")
        else:
            lines[0] = rng.choice((b"xre", b"xref 0", b"", b"xrefxref", b"XREF"))
        table = b"\n".join(lines)
    return data[:start] + table + data[end:]


def startxref_wrong(data: bytes, rng: random.Random) -> bytes:
    """Point ``startxref`` somewhere else: 0, a few bytes off, into an object, past the end, negative, huge,
    not a number, or nowhere."""
    at = data.rfind(b"startxref")
    if at < 0:
        data = classic(data)
        at = data.rfind(b"startxref")
    match = re.compile(rb"startxref\s*(\S*)").match(data, at)
    assert match is not None
    true = int(match.group(1)) if match.group(1).isdigit() else 0
    objects = [m.start() for m in _OBJ.finditer(data)] or [0]
    value = rng.choice(
        (
            b"0",
            b"%d" % max(0, true + rng.choice((-3, -1, 1, 2, 9))),
            b"%d" % rng.choice(objects),
            b"%d" % (len(data) + rng.randrange(1, 10_000)),
            b"%d" % rng.randrange(len(data)),
            b"-1",
            b"99999999999999999999",
            b"abc",
            b"",
        )
    )
    return data[: match.start(1)] + value + data[match.end(1) :]


# ---- objects -----------------------------------------------------------------------------------------------
def wrong_length(data: bytes, rng: random.Random) -> bytes:
    """Make a stream's ``/Length`` lie (shorter, longer, zero, negative, huge, fractional, a missing or
    non-number object), the xref otherwise correct."""
    parts = split(classic(data))
    streams = [
        i for i, (_, _, body) in enumerate(parts.objects) if b"stream" in body and _LENGTH.search(body)
    ]
    if not streams:
        return data
    index = rng.choice(streams)
    number, generation, body = parts.objects[index]
    match = _LENGTH.search(body)
    assert match is not None
    true = body.find(b"endstream") - body.find(b"stream") - len(b"stream\n") - 1
    value = rng.choice(
        (
            b"0",
            b"%d" % max(0, true - rng.randrange(1, 20)),
            b"%d" % (true + rng.randrange(1, 60)),
            b"%d" % (true * 2),
            b"%d" % (2**31),
            b"%d" % (2**63 - 1),
            b"-1",
            b"%d.5" % true,
            b"999 0 R",
            b"%d 0 R" % parts.objects[0][0],
        )
    )
    objects = list(parts.objects)
    objects[index] = (number, generation, body[: match.start(1)] + value + body[match.end(1) :])
    return assemble(parts._replace(objects=objects))


def delete_object(data: bytes, rng: random.Random) -> bytes:
    """Delete one object: with the xref rebuilt (a dangling reference) or its bytes simply cut out (the xref
    now points past it)."""
    source = classic(data)
    parts = split(source)
    if not parts.objects:
        return data
    index = rng.randrange(len(parts.objects))
    if rng.random() < 0.5:
        return assemble(parts._replace(objects=parts.objects[:index] + parts.objects[index + 1 :]))
    found = list(_OBJ.finditer(source))
    start = found[index].start()
    end = source.find(b"endobj", found[index].end())
    return source[:start] + source[end + len(b"endobj") :] if end > 0 else source[:start]


# ---- the object graph --------------------------------------------------------------------------------------
def _edit(data: bytes, change: Callable[[pikepdf.Pdf], None]) -> bytes:
    pdf = open_pdf(data)
    change(pdf)
    return serialise(pdf, header=data.split(b"\n", 1)[0][:8])


def _pages(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
    """The page objects, found by walking /Kids from the root (without qpdf's repairs)."""
    found, stack, seen = [], [pdf.Root.Pages], set()
    while stack:
        node = stack.pop()
        if node.objgen in seen:
            continue
        seen.add(node.objgen)
        if node.get("/Type") == Name.Pages or "/Kids" in node:
            stack.extend(reversed(list(node.get("/Kids", Array()))))
        else:
            found.append(node)
    return found


def kids_cycle(data: bytes, rng: random.Random) -> bytes:
    """A /Kids cycle: the root lists itself, a node lists itself beside a page, two nodes list each other, the
    catalog appears among the kids, or one page is listed twice."""
    how = rng.randrange(5)

    def change(pdf: pikepdf.Pdf) -> None:
        root = pdf.Root.Pages
        kids = root.Kids
        page = kids[0]
        if how == 0:
            kids.append(root)
            if rng.random() < 0.5:
                root.Count = int(root.Count) + 1
        elif how == 1:
            node = pdf.make_indirect(Dictionary(Type=Name.Pages, Count=1, Parent=root))
            node.Kids = Array([page, node])
            page.Parent = node
            kids[0] = node
        elif how == 2:
            first = pdf.make_indirect(Dictionary(Type=Name.Pages, Count=1, Parent=root))
            second = pdf.make_indirect(Dictionary(Type=Name.Pages, Count=1, Parent=first))
            first.Kids = Array([second, page])
            second.Kids = Array([first])
            page.Parent = first
            kids[0] = first
        elif how == 3:
            kids.insert(rng.randrange(len(kids) + 1), pdf.Root)
        else:
            kids.insert(rng.randrange(len(kids) + 1), page)
            root.Count = int(root.Count) + 1

    return _edit(data, change)


def parent_loop(data: bytes, rng: random.Random) -> bytes:
    """A /Parent loop (a page its own parent, the root's parent a page or itself, a page under a node that is
    its own parent), often with the page's inheritable keys moved up so a reader must climb the loop."""
    how = rng.randrange(4)
    inherit = rng.random() < 0.6

    def change(pdf: pikepdf.Pdf) -> None:
        root = pdf.Root.Pages
        pages = _pages(pdf)
        page = rng.choice(pages)
        if how == 0:
            page.Parent = page
        elif how == 1:
            root.Parent = page
        elif how == 2:
            root.Parent = root
        else:
            node = pdf.make_indirect(Dictionary(Type=Name.Pages, Count=1, Kids=Array()))
            node.Parent = node
            page.Parent = node
        if inherit:
            for key in ("/MediaBox", "/Resources", "/Rotate"):
                if key in page:
                    if key not in root:
                        root[key] = page[key]
                    del page[key]

    return _edit(data, change)


def _add_content(pdf: pikepdf.Pdf, page: pikepdf.Object, content: bytes) -> None:
    stream = pdf.make_stream(content)
    contents = page.get("/Contents")
    if contents is None:
        page.Contents = stream
    elif isinstance(contents, pikepdf.Array):
        contents.append(stream)
    else:
        page.Contents = Array([contents, stream])


def _resources(page: pikepdf.Object) -> pikepdf.Object:
    if "/Resources" not in page:
        page.Resources = Dictionary()
    if "/XObject" not in page.Resources:
        page.Resources.XObject = Dictionary()
    return page.Resources.XObject


def form_self(data: bytes, rng: random.Random) -> bytes:
    """A Form XObject that draws itself (or two that draw each other), drawn by a page — shrinking or not,
    drawing nothing else or a line (in the body, or into the control-code zone)."""
    mutual = rng.random() < 0.4
    shrink = rng.choice((b"", b"0.5 0 0 0.5 10 10 cm ", b"1 0 0 1 0 0 cm "))
    visible = rng.random() < 0.5

    def change(pdf: pikepdf.Pdf) -> None:
        page = rng.choice(_pages(pdf))
        body = b"q " + shrink + b"/Fx Do Q" + (b" %s m 40 130 l S" % rng.choice(_PLACES) if visible else b"")
        first = pdf.make_stream(body, Type=Name.XObject, Subtype=Name.Form, BBox=Array([0, 0, 595, 842]))
        target = first
        if mutual:
            target = pdf.make_stream(body, Type=Name.XObject, Subtype=Name.Form, BBox=Array([0, 0, 595, 842]))
            target.Resources = Dictionary(XObject=Dictionary(Fx=first))
        first.Resources = Dictionary(XObject=Dictionary(Fx=target))
        _resources(page).Fx = first
        _add_content(pdf, page, b"q /Fx Do Q")

    return _edit(data, change)


_BOXES = (
    [0, 0, Decimal("1e9"), Decimal("1e9")],
    [0, 0, Decimal("595.2756"), Decimal("1e9")],
    [0, 0, Decimal("1e9"), Decimal("841.8898")],
    [Decimal("-1e9"), Decimal("-1e9"), Decimal("1e9"), Decimal("1e9")],
    [0, 0, Decimal("3.4e38"), Decimal("3.4e38")],
    [0, 0, Decimal("1e300"), Decimal("1e300")],
    [0, 0, 2**62, 2**62],
    [0, 0, 14400, 14400],
    [0, 0, 0, 0],
    [0, 0, Decimal("-595.2756"), Decimal("-841.8898")],
)


def huge_mediabox(data: bytes, rng: random.Random) -> bytes:
    """Huge (or degenerate) page dimensions: a MediaBox of 1e9, 1e38, 2^62 or none at all, on a page or the
    page-tree root, or the same in the crop, trim or bleed box, or a huge /UserUnit."""
    box = rng.choice(_BOXES)
    key = rng.choice(("/MediaBox",) * 5 + ("/CropBox", "/TrimBox", "/BleedBox", "/UserUnit"))
    on_root = rng.random() < 0.2

    def change(pdf: pikepdf.Pdf) -> None:
        target = pdf.Root.Pages if on_root else rng.choice(_pages(pdf))
        if key == "/UserUnit":
            target.UserUnit = rng.choice((Decimal("1e9"), 75000, 0, -1))
            return
        if on_root and key == "/MediaBox":
            for page in _pages(pdf):
                if "/MediaBox" in page:
                    del page["/MediaBox"]
        target[key] = Array(box)

    return _edit(data, change)


#: Where a mutation draws: in the body (left alone by pre-flight's renderings), or in the control-code zone
#: (rendered by pre-flight; ink there is a rejection whose overlay renders the whole page).
_PLACES = (b"300 400", b"300 400", b"25 110")
_SIZES = ((10**9, 10**9), (2**31 - 1, 1), (1, 2**31 - 1), (65536, 65536), (200_000, 200_000), (2**32 + 1, 2))


def huge_image(data: bytes, rng: random.Random) -> bytes:
    """An image XObject of huge /Width and /Height (1e9, 2^31−1, 65536², …) with little data behind it,
    drawn small in the body of a page, or in the control-code zone (so pre-flight renders it, and the whole
    page again for the overlay)."""
    width, height = rng.choice(_SIZES)
    space, bits = rng.choice(
        ((Name.DeviceGray, 8), (Name.DeviceRGB, 8), (Name.DeviceCMYK, 16), (Name.DeviceGray, 1))
    )
    packed = rng.random() < 0.5
    place = rng.choice(_PLACES)
    raw = zlib.compress(bytes(2**20), 9) if packed else bytes(rng.choice((0, 1, 64, 4096)))

    def change(pdf: pikepdf.Pdf) -> None:
        page = rng.choice(_pages(pdf))
        image = pdf.make_stream(
            raw,
            Type=Name.XObject,
            Subtype=Name.Image,
            Width=width,
            Height=height,
            ColorSpace=space,
            BitsPerComponent=bits,
        )
        if packed:
            image.Filter = Name.FlateDecode
        _resources(page).ImH = image
        _add_content(pdf, page, b"q 20 0 0 20 %s cm /ImH Do Q" % place)

    return _edit(data, change)


#: The structural classes ``combo`` starts from, and the damage it adds on top.
_STRUCTURE = (kids_cycle, parent_loop, form_self, huge_mediabox, huge_image, wrong_length, delete_object)
_DAMAGE = (truncate, byte_flips, xref_shift, xref_garble, startxref_wrong)


def combo(data: bytes, rng: random.Random) -> bytes:
    """A structural mutation, then damage to the bytes on top of it."""
    return rng.choice(_DAMAGE)(rng.choice(_STRUCTURE)(data, rng), rng)


#: Every mutation class by name.
MUTATIONS: dict[str, Mutation] = {
    f.__name__: f
    for f in (
        truncate,
        byte_flips,
        xref_shift,
        xref_garble,
        startxref_wrong,
        wrong_length,
        delete_object,
        kids_cycle,
        parent_loop,
        form_self,
        huge_mediabox,
        huge_image,
        combo,
    )
}
