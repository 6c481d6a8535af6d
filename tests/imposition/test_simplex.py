"""1-up simplex imposition: one marked A4 sheet per page, codes readable on real renderings."""

from __future__ import annotations

import subprocess

import numpy as np
import pikepdf
import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4, letter
from reportlab.pdfgen import canvas

from imposition import EncryptedPdf, PieceInput, SheetMap, WrongPageSize, impose_1up
from plant.demo import write_letter

ROW = {
    "letter_id": "L",
    "name": "Anna Becker",
    "address_1": "Lindenweg 4",
    "address_2": "",
    "postcode": "10115",
    "city": "Berlin",
    "country": "DE",
}


@pytest.fixture
def pieces(tmp_path):
    """Three letters of 1, 3 and 2 pages with tracking ids."""
    made = []
    for number, (pages, tracking) in enumerate(
        [(1, "RR100000015ZZ"), (3, "RR100000029ZZ"), (2, None)], start=1
    ):
        path = tmp_path / f"l{number}.pdf"
        write_letter(path, ROW, pages)
        made.append(PieceInput(piece_id=str(100 + number), pdf_path=path, tracking_id=tracking))
    return made


def render(pdf, tmp_path, dpi=200):
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", str(pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.pgm"), key=lambda p: int(p.stem.split("-")[1]))
    return [np.asarray(Image.open(p)) for p in pages]


def test_one_a4_sheet_per_page_in_order(pieces, tmp_path):
    """Six pages make six A4 sheets; the map says which piece, page and sheet i of n each is."""
    out = tmp_path / "J000001.pdf"
    sheet_map = impose_1up(pieces, out, "J000001")
    reader = PdfReader(out)
    assert len(reader.pages) == 6 == sheet_map.sheet_count
    for page in reader.pages:
        assert [round(float(v)) for v in page.mediabox] == [0, 0, 595, 842]
    assert [(r.piece_id, r.page, r.sheet_of_piece, r.sheets_in_piece) for r in sheet_map] == [
        ("101", 1, 1, 1),
        ("102", 1, 1, 3),
        ("102", 2, 2, 3),
        ("102", 3, 3, 3),
        ("103", 1, 1, 2),
        ("103", 2, 2, 2),
    ]
    assert SheetMap.from_json(sheet_map.to_json()) == sheet_map


def test_every_sheet_carries_its_control_code(pieces, tmp_path):
    """Rendered with pdftoppm, each sheet's DataMatrix decodes to job|piece|i/n."""
    out = tmp_path / "J000002.pdf"
    impose_1up(pieces, out, "J000002")
    decoded = []
    for image in render(out, tmp_path):
        found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.DataMatrix)
        decoded.append([f.text for f in found])
    assert decoded == [
        ["J000002|101|1/1"],
        ["J000002|102|1/3"],
        ["J000002|102|2/3"],
        ["J000002|102|3/3"],
        ["J000002|103|1/2"],
        ["J000002|103|2/2"],
    ]


def test_tracking_barcode_only_on_first_pages_inside_the_window(pieces, tmp_path):
    """The Code 128 tracking id is on each piece's first sheet, within the DIN 5008 address field."""
    out = tmp_path / "J000003.pdf"
    impose_1up(pieces, out, "J000003")
    images = render(out, tmp_path)
    per_sheet = [
        [(f.text, f.position) for f in zxingcpp.read_barcodes(i, formats=zxingcpp.BarcodeFormat.Code128)]
        for i in images
    ]
    assert [[t for t, _ in s] for s in per_sheet] == [["RR100000015ZZ"], ["RR100000029ZZ"], [], [], [], []]
    dpmm = 200 / 25.4
    position = per_sheet[0][0][1]
    for point in (position.top_left, position.bottom_right):
        assert 20 * dpmm <= point.x <= 105 * dpmm and 45 * dpmm <= point.y <= 90 * dpmm


def test_letter_size_page_is_refused_naming_file_and_page(tmp_path):
    """A non-A4 page is refused with the file and the page named."""
    path = tmp_path / "us.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.showPage()
    c.setPageSize(letter)
    c.drawString(100, 100, "x")
    c.showPage()
    c.save()
    with pytest.raises(WrongPageSize) as info:
        impose_1up([PieceInput("1", path, None)], tmp_path / "out.pdf", "J1")
    assert "us.pdf" in str(info.value) and "2" in str(info.value)
    assert not (tmp_path / "out.pdf").exists()


def test_encrypted_letter_is_refused(tmp_path):
    """A letter that needs a password is refused."""
    plain, locked = tmp_path / "p.pdf", tmp_path / "e.pdf"
    write_letter(plain, ROW, 1)
    with pikepdf.open(plain) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="u"))
    with pytest.raises(EncryptedPdf):
        impose_1up([PieceInput("1", locked, None)], tmp_path / "out.pdf", "J1")
