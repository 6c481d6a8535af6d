"""Foundation pre-flight: broken, encrypted, oversized and wrong-size PDFs are rejected with a code."""

from __future__ import annotations

import pikepdf
import pytest
from reportlab.lib.pagesizes import A4, letter
from reportlab.pdfgen import canvas

from plant.demo import write_letter
from plant.intake.preflight import check_pdf

ROW = {
    "letter_id": "L1",
    "name": "A B",
    "address_1": "Street 1",
    "address_2": "",
    "postcode": "1",
    "city": "C",
    "country": "DE",
}


def test_a_good_letter_passes(tmp_path):
    """A generated A4 letter passes with its page count."""
    path = tmp_path / "ok.pdf"
    write_letter(path, ROW, 3)
    assert check_pdf(path, max_pages=6).ok and check_pdf(path, 6).pages == 3


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "NOT_PDF"),
        (b"<html><body>hi</body></html>", "NOT_PDF"),
        (b"%PDF-1.7\n1 0 obj\n<<", "BROKEN_PDF"),
    ],
)
def test_not_a_pdf_is_rejected(tmp_path, content, code):
    """Bytes that are not a readable PDF are rejected with a code and a reason."""
    path = tmp_path / "bad.pdf"
    path.write_bytes(content)
    verdict = check_pdf(path, 6)
    assert not verdict.ok and verdict.code == code and verdict.reason


def test_too_many_pages_for_the_envelope(tmp_path):
    """More pages than the largest envelope takes is refused, saying both numbers."""
    path = tmp_path / "long.pdf"
    write_letter(path, ROW, 4)
    verdict = check_pdf(path, max_pages=3)
    assert verdict.code == "TOO_MANY_PAGES" and "4 pages" in verdict.reason and "takes 3" in verdict.reason


def test_letter_size_page_is_refused(tmp_path):
    """A US Letter page is refused naming its size in millimetres."""
    path = tmp_path / "us.pdf"
    c = canvas.Canvas(str(path), pagesize=letter)
    c.drawString(100, 100, "x")
    c.save()
    verdict = check_pdf(path, 6)
    assert verdict.code == "PAGE_SIZE" and "216 × 279 mm" in verdict.reason


def test_encrypted_pdf_is_refused(tmp_path):
    """A PDF that needs a password is refused."""
    plain, locked = tmp_path / "p.pdf", tmp_path / "e.pdf"
    c = canvas.Canvas(str(plain), pagesize=A4)
    c.drawString(100, 100, "secret")
    c.save()
    with pikepdf.open(plain) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="u"))
    assert check_pdf(locked, 6).code == "ENCRYPTED"
