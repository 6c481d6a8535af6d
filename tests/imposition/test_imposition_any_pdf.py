"""Imposition takes any PDF a viewer opens (issue 11, point 1).

Each input kind is built here (by hand, reportlab, pikepdf, qpdf, LibreOffice), imposed 1-up on A4 with no
marks, and the imposed page rendered by pdftoppm is compared with the input page rendered the same way.

Pixel threshold (stated once, used by every comparison): at 72 dpi in 8-bit grey, the mean absolute difference
is at most 1.0 grey level and at most 0.1 % of the pixels differ by more than 64 levels. A dropped font,
image, annotation, a box off by a few points or a page turned the wrong way breaks it by far (each input page
is checked to carry at least 0.25 % dark pixels, so a blank output cannot pass).

Also: the path counts (fast for plain letters, the fallback only where a cheap test asks for it or the fast
copy fails), and the error contract: every ImpositionError has ``piece_id``, ``code`` and ``senders_fault``.
"""

from __future__ import annotations

import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from imposition_helpers import make_pieces, write_labelled
from PIL import Image
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

import imposition.errors
import imposition.pieces
from imposition import (
    DuplicatePiece,
    EmptyPdf,
    EncryptedPdf,
    ImpositionError,
    LayoutError,
    MarkError,
    Normalise,
    OmrGeometryError,
    PageCountMismatch,
    PageDoesNotFit,
    PieceInput,
    PieceTooLong,
    RasterError,
    UnreadablePdf,
    WrongPageSize,
    impose,
)
from imposition.impose import Marks

#: Rendering resolution of the comparisons.
DPI = 72
#: Largest mean absolute grey difference between input and imposed page (0–255 scale).
MEAN_LIMIT = 1.0
#: Largest share of pixels that may differ by more than :data:`BIG_DIFFERENCE` levels.
BIG_SHARE_LIMIT = 0.001
BIG_DIFFERENCE = 64
#: Least share of dark pixels an input page must have (so a blank imposed page cannot pass).
INK_MIN = 0.0025

A4_W, A4_H = A4


# --- building inputs -------------------------------------------------------------------------------------


def raw_pdf(objects: list[bytes | tuple[bytes, bytes]]) -> bytes:
    """A classic-xref PDF of ``objects`` (numbered from 1, object 1 the catalog); an ``(entries, data)`` pair
    is a stream (its /Length is written by the caller in ``entries``, which may point at another object)."""
    out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        if isinstance(body, tuple):
            entries, data = body
            body = b"<< %s >>\nstream\n%s\nendstream" % (entries, data)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, start)
    return out


def letter_text(c: canvas.Canvas, label: str, width: float = A4_W, height: float = A4_H) -> None:
    """Asymmetric ink (large text near the top-left, a block near the bottom-right) so that any misplacement
    or turn shows."""
    c.setFont("Helvetica-Bold", 30)
    c.drawString(50, height - 90, label)
    c.setFont("Times-Roman", 16)
    c.drawString(50, height - 140, "Sehr geehrte Frau Becker, the quick brown fox.")
    c.rect(width - 200, 60, 140, 90, fill=1)


def reportlab_pdf(path: Path, labels: list[str], pagesize=A4, rotate: list[int] | None = None) -> Path:
    c = canvas.Canvas(str(path), pagesize=pagesize, invariant=1)
    for label in labels:
        letter_text(c, label, *pagesize)
        c.showPage()
    c.save()
    if rotate:
        with pikepdf.open(path, allow_overwriting_input=True) as pdf:
            for page, degrees in zip(pdf.pages, rotate, strict=True):
                page.obj.Rotate = degrees
            pdf.save(path)
    return path


def content(*lines: bytes) -> bytes:
    return b"\n".join(lines)


TEXT = content(
    b"BT /F1 30 Tf 60 750 Td (Indirect objects) Tj ET",
    b"BT /F2 16 Tf 60 700 Td (Sehr geehrte Frau Becker) Tj ET",
    b"/G1 gs 0.2 g 380 60 150 100 re f",
)


def indirect_scalars_pdf(path: Path) -> Path:
    """Every number, boolean, name, null and string a page reaches is an indirect object: the MediaBox
    numbers, the content stream's /Length and /Filter, the font's /FirstChar, the graphics state's values, the
    page count."""
    data = zlib.compress(TEXT)
    objects: list[bytes | tuple[bytes, bytes]] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 4 0 R >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 5 0 R 6 0 R] /Rotate 16 0 R"
        b" /Resources << /Font << /F1 7 0 R /F2 8 0 R >> /ExtGState << /G1 9 0 R >>"
        b" /Properties << /P0 12 0 R >> >> /Contents 10 0 R >>",
        b"1",
        b"595.2756",
        b"841.8898",
        b"<< /Type /Font /Subtype /Type1 /BaseFont 15 0 R /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Name 13 0 R >>",
        b"<< /Type /ExtGState /ca 11 0 R /CA 11 0 R /AIS 14 0 R /SA 14 0 R >>",
        (b"/Length 17 0 R /Filter 18 0 R", data),
        b"1.0",
        b"null",
        b"(F2 \\(Times\\))",
        b"false",
        b"/Helvetica-Bold",
        b"0",
        b"%d" % len(data),
        b"/FlateDecode",
    ]
    path.write_bytes(raw_pdf(objects))
    return path


def inherited_pdf(path: Path) -> Path:
    """Resources, MediaBox, CropBox and Rotate only on /Pages parents (two levels), one page overriding the
    rotation; the boxes are landscape and offset, the pages shown portrait."""
    draw = content(
        b"BT /F1 30 Tf 140 500 Td (Inherited) Tj ET",
        b"BT /F1 14 Tf 140 460 Td (resources and boxes) Tj ET",
        b"0.3 g 700 120 80 150 re f",
    )
    objects: list[bytes | tuple[bytes, bytes]] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 2 /Rotate 90 /MediaBox [-20 -40 900 700]"
        b" /CropBox [30 40 871.89 635.28] /Resources << /Font << /F1 6 0 R >> >> >>",
        b"<< /Type /Pages /Parent 2 0 R /Kids [4 0 R 5 0 R] /Count 2 >>",
        b"<< /Type /Page /Parent 3 0 R /Contents 7 0 R >>",
        b"<< /Type /Page /Parent 3 0 R /Contents 7 0 R /Rotate 270 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        (b"/Length %d" % len(draw), draw),
    ]
    path.write_bytes(raw_pdf(objects))
    return path


def offset_boxes_pdf(path: Path) -> Path:
    """MediaBox and CropBox away from the origin (negative and positive), ink outside the CropBox that must
    stay cut off."""
    draw = content(
        b"0 g -400 -400 3000 300 re f",  # below the crop box: must not show
        b"BT /F1 30 Tf 150 1050 Td (Offset boxes) Tj ET",
        b"0.4 g 600 300 120 90 re f",
        b"0 g 150 240 m 700 1080 l S",
    )
    objects: list[bytes | tuple[bytes, bytes]] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [-300 -200 1000 1300] /CropBox [120 230 715.2756 1071.8898]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        (b"/Length %d" % len(draw), draw),
    ]
    path.write_bytes(raw_pdf(objects))
    return path


def rotated_pdf(path: Path) -> Path:
    """/Rotate 90 and 270 on landscape boxes, 180 on a portrait one: each shows A4 portrait in a viewer."""
    path = reportlab_pdf(path, ["Rotate 90", "Rotate 270"], pagesize=landscape(A4), rotate=[90, 270])
    upside = reportlab_pdf(path.with_name("upside.pdf"), ["Rotate 180"], rotate=[180])
    with pikepdf.open(path, allow_overwriting_input=True) as pdf, pikepdf.open(upside) as other:
        pdf.pages.extend(other.pages)
        pdf.save(path)
    return path


def picture(size: int = 64) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size]
    return Image.fromarray(((x * 4 + (y // 8) * 32) % 256).astype(np.uint8), "L")


def forms_and_shared_pdf(path: Path) -> Path:
    """Form XObjects (one nested in another), an image and fonts shared by three pages."""
    c = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    c.beginForm("inner")
    c.setFont("Courier", 20)
    c.drawString(0, 0, "Inner form")
    c.rect(0, -30, 120, 20, fill=1)
    c.endForm()
    c.beginForm("outer")
    c.setFont("Helvetica", 14)
    c.drawString(0, 60, "Outer form, with:")
    c.doForm("inner")
    c.endForm()
    image = ImageReader(picture())
    for number in range(1, 4):
        letter_text(c, f"Forms {number}")
        c.saveState()
        c.translate(70, 450 - number * 40)
        c.doForm("outer")
        c.restoreState()
        c.drawImage(image, 300, 300, 160, 160)
        c.showPage()
    c.save()
    return path


def annotated_pdf(path: Path) -> Path:
    """A printable annotation with an appearance stream (a stamp): a viewer shows it, so must the sheet."""
    reportlab_pdf(path, ["Annotated"])
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        appearance = pdf.make_stream(
            b"0.1 g 0 0 200 60 re f 1 g BT /Fa 24 Tf 20 20 Td (APPROVED) Tj ET",
            Type=pikepdf.Name.XObject,
            Subtype=pikepdf.Name.Form,
            BBox=[0, 0, 200, 60],
            Resources=pikepdf.Dictionary(
                Font=pikepdf.Dictionary(
                    Fa=pikepdf.Dictionary(
                        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
                    )
                )
            ),
        )
        annot = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Square,
                Rect=[300, 400, 500, 460],
                F=4,
                AP=pikepdf.Dictionary(N=appearance),
            )
        )
        pdf.pages[0].obj.Annots = pikepdf.Array([annot])
        pdf.save(path)
    return path


def qpdf(*args: str) -> None:
    subprocess.run(["qpdf", *args], check=True, capture_output=True)


def object_streams_pdf(path: Path) -> Path:
    source = reportlab_pdf(path.with_name("os-src.pdf"), ["Object streams", "page 2"])
    qpdf("--object-streams=generate", str(source), str(path))
    return path


def linearized_pdf(path: Path) -> Path:
    source = reportlab_pdf(path.with_name("lin-src.pdf"), ["Linearized", "page 2"])
    qpdf("--linearize", "--object-streams=generate", str(source), str(path))
    return path


def owner_password_pdf(path: Path) -> Path:
    """AES-256, owner password only: opens without a password, printing allowed."""
    source = reportlab_pdf(path.with_name("aes-src.pdf"), ["Owner password", "page 2"])
    qpdf("--encrypt", "", "owner-secret", "256", "--", str(source), str(path))
    return path


def owner_password_rc4_pdf(path: Path) -> Path:
    """RC4 128-bit, owner password only (as older office software writes)."""
    source = forms_and_shared_pdf(path.with_name("rc4-src.pdf"))
    qpdf("--allow-weak-crypto", "--encrypt", "", "owner", "128", "--use-aes=n", "--", str(source), str(path))
    return path


def repaired_pdf(path: Path) -> Path:
    """A broken cross-reference table (wrong startxref and offsets) that qpdf reconstructs."""
    data = reportlab_pdf(path.with_name("broken-src.pdf"), ["Repaired", "page 2"]).read_bytes()
    data = data.replace(b"startxref\n", b"startxref\n77").replace(b" 00000 n", b"7 00000 n", 3)
    path.write_bytes(data)
    return path


def libreoffice_pdf(path: Path) -> Path:
    """An ordinary LibreOffice Writer export (indirect /Length on every stream, embedded subset fonts)."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.fail("LibreOffice (soffice) is not installed; `bash scripts/setup.sh --test` installs it")
    document = path.with_suffix(".fodt")
    document.write_text(FODT, encoding="utf-8")
    profile = path.parent / "lo-profile"
    subprocess.run(
        [soffice, "--headless", f"-env:UserInstallation={profile.as_uri()}", "--convert-to", "pdf"]
        + [document.name, "--outdir", str(path.parent)],
        cwd=path.parent,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path


FODT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">
 <office:automatic-styles>
  <style:page-layout style:name="pm1"><style:page-layout-properties fo:page-width="210mm"
   fo:page-height="297mm" fo:margin-top="20mm" fo:margin-bottom="20mm" fo:margin-left="25mm"
   fo:margin-right="20mm"/></style:page-layout>
  <style:style style:name="P1" style:family="paragraph"><style:text-properties fo:font-size="28pt"
   fo:font-weight="bold"/></style:style>
  <style:style style:name="P2" style:family="paragraph"><style:paragraph-properties fo:break-before="page"/>
   <style:text-properties fo:font-size="28pt"/></style:style>
 </office:automatic-styles>
 <office:master-styles><style:master-page style:name="Standard" style:page-layout-name="pm1"/>
 </office:master-styles>
 <office:body><office:text>
  <text:p text:style-name="P1">Dear Anna Becker,</text:p>
  <text:p>This letter was written in LibreOffice Writer. Umlauts äöü ß and the euro sign €.</text:p>
  <text:p text:style-name="P1">Kind regards, the plant</text:p>
  <text:p text:style-name="P2">Second page of the letter.</text:p>
  <text:p text:style-name="P1">With more words on it, bold ones.</text:p>
 </office:text></office:body>
</office:document>
"""


# --- comparing renderings --------------------------------------------------------------------------------


def render(pdf: Path, folder: Path) -> list[np.ndarray]:
    prefix = folder / f"{pdf.stem}-{len(list(folder.glob('*.pgm')))}"
    subprocess.run(["pdftoppm", "-cropbox", "-r", str(DPI), "-gray", str(pdf), str(prefix)], check=True)
    pages = sorted(folder.glob(f"{prefix.name}-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return [np.asarray(Image.open(p)).astype(np.int16) for p in pages]


def difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean absolute difference and share of pixels differing by more than BIG_DIFFERENCE (sizes may differ
    by a pixel row from rounding: compared over the common area)."""
    assert abs(a.shape[0] - b.shape[0]) <= 1 and abs(a.shape[1] - b.shape[1]) <= 1, (a.shape, b.shape)
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    d = np.abs(a[:h, :w] - b[:h, :w])
    return float(d.mean()), float((d > BIG_DIFFERENCE).mean())


def assert_same_pages(source: Path, imposed: Path, folder: Path) -> None:
    inputs, outputs = render(source, folder), render(imposed, folder)
    assert len(inputs) == len(outputs)
    for number, (a, b) in enumerate(zip(inputs, outputs, strict=True), start=1):
        assert (a < 128).mean() >= INK_MIN, f"input page {number} carries too little ink to compare"
        mean, big = difference(a, b)
        assert mean <= MEAN_LIMIT and big <= BIG_SHARE_LIMIT, (
            f"{source.name} page {number}: mean difference {mean:.2f}, {big:.2%} of pixels differ by more "
            f"than {BIG_DIFFERENCE}"
        )


#: Input kind → (builder, the path it must take: None the fast path, else the fallback reason).
KINDS = {
    "libreoffice": (libreoffice_pdf, None),
    "indirect_scalars": (indirect_scalars_pdf, None),
    "object_streams": (object_streams_pdf, None),
    "linearized": (linearized_pdf, None),
    "inherited": (inherited_pdf, None),
    "rotated": (rotated_pdf, None),
    "offset_boxes": (offset_boxes_pdf, None),
    "forms_and_shared": (forms_and_shared_pdf, None),
    "owner_password": (owner_password_pdf, "encrypted"),
    "owner_password_rc4": (owner_password_rc4_pdf, "encrypted"),
    "repaired": (repaired_pdf, "repaired"),
    "annotated": (annotated_pdf, "annotations"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_is_imposed_as_a_viewer_shows_it(kind, tmp_path):
    build, reason = KINDS[kind]
    source = build(tmp_path / f"{kind}.pdf")
    out = tmp_path / "out.pdf"
    sheet_map = impose([PieceInput(kind, source)], out, "J1", marks=Marks.none())
    pages = sum(1 for r in sheet_map if r.page)
    paths = sheet_map.paths
    if reason is None:
        assert (paths.fast, paths.fast_pages, paths.fallback, paths.reasons) == (1, pages, 0, {})
    else:
        assert (paths.fast, paths.fallback, paths.fallback_pages, paths.reasons) == (0, 1, pages, {reason: 1})
    with pikepdf.open(out) as result:
        assert not result.is_encrypted
    assert_same_pages(source, out, tmp_path)


def test_the_comparison_catches_a_lost_resource(tmp_path):
    """The threshold is meaningful: the same page without its inherited fonts fails it."""
    source = inherited_pdf(tmp_path / "inherited.pdf")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(source.read_bytes().replace(b"/Resources << /Font << /F1 6 0 R >> >>", b" " * 38))
    with pytest.raises(AssertionError, match="mean difference"):
        assert_same_pages(source, broken, tmp_path)


def test_shared_resources_are_written_once(tmp_path):
    source = forms_and_shared_pdf(tmp_path / "shared.pdf")
    out = tmp_path / "out.pdf"
    impose([PieceInput("S", source)], out, "J1", marks=Marks.none())
    data = out.read_bytes()
    assert data.count(b"/Subtype /Image") == 1
    assert data.count(b"/BaseFont /Courier") == 1


def test_a_libreoffice_letter_no_longer_crashes_with_all_marks(tmp_path):
    """The crash of the issue: 'int' object has no attribute 'unparse' on an indirect /Length."""
    source = libreoffice_pdf(tmp_path / "letter.pdf")
    sheet_map = impose([PieceInput("LO", source, tracking_id="RR100000015ZZ")], tmp_path / "out.pdf", "J1")
    assert sheet_map.paths.fast == 1
    result = subprocess.run(["qpdf", "--check", str(tmp_path / "out.pdf")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# --- path counts -----------------------------------------------------------------------------------------


def test_plain_letters_take_the_fast_path_only(tmp_path):
    pieces = make_pieces(tmp_path, [1, 2, 3, 4])
    paths = impose(pieces, tmp_path / "out.pdf", "J1").paths
    assert (paths.fast, paths.fast_pages, paths.fallback, paths.fallback_pages) == (4, 10, 0, 0)


def test_the_fallback_runs_only_for_the_pieces_that_need_it(tmp_path):
    plain = make_pieces(tmp_path, [2, 1])
    odd = [
        PieceInput("ENC", owner_password_pdf(tmp_path / "enc.pdf")),
        PieceInput("ANN", annotated_pdf(tmp_path / "ann.pdf")),
        PieceInput("IND", indirect_scalars_pdf(tmp_path / "ind.pdf")),
    ]
    paths = impose([plain[0], *odd, plain[1]], tmp_path / "out.pdf", "J1").paths
    assert (paths.fast, paths.fast_pages) == (3, 4)
    assert (paths.fallback, paths.fallback_pages) == (2, 3)
    assert paths.reasons == {"encrypted": 1, "annotations": 1}


def test_a_failing_fast_copy_is_rolled_back_and_the_fallback_places_the_page(tmp_path, monkeypatch):
    """The fast path fails halfway through a piece (after writing some of its objects): they are cut from the
    file, the fallback writes the piece, and the output is complete and correct."""
    real = imposition.pieces.write_page_form
    calls = []

    def failing(writer, foreign, page):
        calls.append(writer.add(b"(half-written)"))
        if len(calls) == 2:
            raise pikepdf.PdfError("simulated failure in the fast copier")
        return real(writer, foreign, page)

    monkeypatch.setattr(imposition.pieces, "write_page_form", failing)
    first, second = make_pieces(tmp_path, [1, 2])
    out = tmp_path / "out.pdf"
    sheet_map = impose([first, second], out, "J1", marks=Marks.none())
    assert (sheet_map.paths.fast, sheet_map.paths.fallback) == (1, 1)
    assert sheet_map.paths.reasons == {"fast path failed": 1}
    assert out.read_bytes().count(b"(half-written)") == 1  # the first piece's; the second's were cut
    check = subprocess.run(["qpdf", "--check", str(out)], capture_output=True, text=True)
    assert check.returncode == 0 and "WARNING" not in check.stdout + check.stderr, check.stdout
    inputs = render(first.pdf_path, tmp_path) + render(second.pdf_path, tmp_path)
    outputs = render(out, tmp_path)
    for a, b in zip(inputs, outputs, strict=True):
        mean, big = difference(a, b)
        assert mean <= MEAN_LIMIT and big <= BIG_SHARE_LIMIT


# --- refusals and the error contract ---------------------------------------------------------------------


def test_a_user_password_pdf_is_refused_with_its_piece_id(tmp_path):
    good = make_pieces(tmp_path, [1])[0]
    source = reportlab_pdf(tmp_path / "src.pdf", ["Secret"])
    locked = tmp_path / "locked.pdf"
    qpdf("--encrypt", "user-secret", "owner-secret", "256", "--", str(source), str(locked))
    out = tmp_path / "out.pdf"
    with pytest.raises(EncryptedPdf) as info:
        impose([good, PieceInput("LOCKED-7", locked)], out, "J1")
    error = info.value
    assert (error.piece_id, error.code, error.senders_fault) == ("LOCKED-7", "PDF_PASSWORD", True)
    assert "locked.pdf needs a password to open" in str(error) and "without a password" in str(error)
    assert not out.exists()


@pytest.mark.parametrize("expected", [1, 3])
def test_a_piece_read_with_another_page_count_than_pre_flight_found_is_refused(tmp_path, expected):
    """Another reader (the plant's pre-flight) counted other pages than qpdf reads: the file is damaged and
    the piece is refused (PAGE_COUNT, the sender's to fix) instead of printing fewer pages than were
    checked."""
    good = make_pieces(tmp_path, [1])[0]
    source = reportlab_pdf(tmp_path / "src.pdf", ["One", "Two"])
    out = tmp_path / "out.pdf"
    with pytest.raises(PageCountMismatch) as info:
        impose([good, PieceInput("DAMAGED-3", source, pages=expected)], out, "J1")
    error = info.value
    assert (error.piece_id, error.code, error.senders_fault) == ("DAMAGED-3", "PAGE_COUNT", True)
    assert (error.expected, error.found) == (expected, 2)
    assert f"{expected} page(s) in one PDF reader and 2 in another" in str(error)
    assert not out.exists()
    impose([good, PieceInput("SOUND", source, pages=2)], out, "J1")  # the same count: imposed
    assert out.exists()


def test_a_pdf_that_forbids_printing_is_refused(tmp_path):
    source = reportlab_pdf(tmp_path / "src.pdf", ["No printing"])
    locked = tmp_path / "noprint.pdf"
    qpdf("--encrypt", "", "owner-secret", "256", "--print=none", "--", str(source), str(locked))
    with pytest.raises(EncryptedPdf) as info:
        impose([PieceInput("NP", locked)], tmp_path / "out.pdf", "J1")
    assert (info.value.piece_id, info.value.code) == ("NP", "PDF_PASSWORD")
    assert "does not allow printing" in str(info.value)


def damaged(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.pdf"
    letter = reportlab_pdf(folder / f"{kind}-src.pdf", ["Damaged", "page 2"]).read_bytes()
    data = {
        "garbage": bytes(range(256)) * 8,
        "truncated_head": letter[: len(letter) // 4],
        "truncated_tail": letter[
            : int(len(letter) * 0.7)
        ],  # qpdf recovers the file, but page 2 lost its content
        "not_a_pdf": b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
        "empty_file": b"",
    }[kind]
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", ["garbage", "truncated_head", "truncated_tail", "not_a_pdf", "empty_file"])
def test_a_damaged_piece_among_good_ones_is_named(kind, tmp_path):
    good = make_pieces(tmp_path, [2, 1])
    out = tmp_path / "out.pdf"
    with pytest.raises(ImpositionError) as info:
        impose([good[0], PieceInput("BAD-3", damaged(kind, tmp_path)), good[1]], out, "J1")
    error = info.value
    assert isinstance(error, UnreadablePdf | EmptyPdf), repr(error)
    assert error.piece_id == "BAD-3" and error.senders_fault
    assert error.code in ("PDF_UNREADABLE", "NO_PAGES")
    message = str(error)
    assert message.startswith(f"{kind}.pdf ")
    for noise in ("qpdf", "BytesIO", "stream <", "object ", "offset ", "Traceback"):
        assert noise not in message, message
    assert not out.exists()


def test_an_unexpected_library_failure_on_one_piece_becomes_unreadable_pdf(tmp_path, monkeypatch):
    """Both paths fail with a library exception (not a PdfError): the piece is refused by id, no traceback."""

    def broken(*args, **kwargs):
        raise RuntimeError("QPDFObjectHandle: unexpected internal state")

    monkeypatch.setattr(imposition.pieces, "write_page_form", broken)
    monkeypatch.setattr(imposition.pieces, "write_pages_via_qpdf", broken)
    with pytest.raises(UnreadablePdf) as info:
        impose(make_pieces(tmp_path, [1]), tmp_path / "out.pdf", "J1")
    assert (info.value.piece_id, info.value.code, info.value.senders_fault) == ("P1", "PDF_UNREADABLE", True)
    assert "unexpected internal state" in str(info.value)


def test_output_errors_are_not_blamed_on_the_sender(tmp_path, monkeypatch):
    """A write failure of the output file is not an unreadable letter: it passes through as it is."""

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(imposition.pieces, "write_page_form", full)
    with pytest.raises(OSError, match="No space left"):
        impose(make_pieces(tmp_path, [1]), tmp_path / "out.pdf", "J1")


#: Every error class: (code, senders_fault).
CONTRACT = {
    UnreadablePdf: ("PDF_UNREADABLE", True),
    EncryptedPdf: ("PDF_PASSWORD", True),
    EmptyPdf: ("NO_PAGES", True),
    PageCountMismatch: ("PAGE_COUNT", True),
    WrongPageSize: ("PAGE_SIZE", True),
    PageDoesNotFit: ("PAGE_DOES_NOT_FIT", True),
    PieceTooLong: ("PIECE_TOO_LONG", True),
    MarkError: ("MARK", False),
    DuplicatePiece: ("DUPLICATE_PIECE", False),
    LayoutError: ("LAYOUT", False),
    OmrGeometryError: ("OMR_GEOMETRY", False),
    RasterError: ("RASTER", False),
}


def test_every_error_class_has_a_code_and_a_fault():
    assert set(CONTRACT) == {cls for cls in vars(imposition.errors).values() if _is_error(cls)} - {
        ImpositionError
    }
    codes = [code for code, _ in CONTRACT.values()]
    assert len(set(codes)) == len(codes)
    for cls, (code, fault) in CONTRACT.items():
        assert (cls.code, cls.senders_fault) == (code, fault), cls
        assert code.isupper()


def _is_error(cls: object) -> bool:
    return isinstance(cls, type) and issubclass(cls, ImpositionError)


def test_job_level_errors_have_no_piece(tmp_path):
    assert LayoutError("x").piece_id is None
    assert RasterError("x").piece_id is None
    assert OmrGeometryError("x", "y").piece_id is None


def test_page_errors_raised_while_imposing_carry_the_piece_id(tmp_path):
    good = make_pieces(tmp_path, [1])[0]
    wide = write_labelled(tmp_path / "wide.pdf", "w", 1, pagesize=landscape(A4))
    small = write_labelled(tmp_path / "small.pdf", "s", 1, pagesize=(300, 400))

    with pytest.raises(WrongPageSize) as info:
        impose([good, PieceInput("WIDE", wide)], tmp_path / "o.pdf", "J1", normalise=Normalise(False))
    assert (info.value.piece_id, info.value.code, info.value.senders_fault) == ("WIDE", "PAGE_SIZE", True)
    with pytest.raises(WrongPageSize) as info:
        impose([PieceInput("SMALL", small)], tmp_path / "o.pdf", "J1")
    assert info.value.piece_id == "SMALL"
    empty = tmp_path / "empty.pdf"
    pikepdf.new().save(empty)
    with pytest.raises(EmptyPdf) as info:
        impose([good, PieceInput("EMPTY", empty)], tmp_path / "o.pdf", "J1")
    assert (info.value.piece_id, info.value.code) == ("EMPTY", "NO_PAGES")


def test_the_parser_s_name_for_the_input_never_reaches_a_message():
    """open_piece reads from memory: pikepdf's description of the input never reaches a message."""
    with pytest.raises(UnreadablePdf) as info, pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "read_bytes", lambda self: b"%PDF-1.4\n" + b"x" * 100)
        imposition.pieces.open_piece(Path("letter.pdf"))
    assert str(info.value).startswith("letter.pdf is not a readable PDF (")
    assert "BytesIO" not in str(info.value)
