"""Symbols from libzint, our raster kernels against their NumPy references, and every symbol kind read back by
zxing-cpp from a real pdftoppm rendering of a PDF it was stamped into."""

from __future__ import annotations

import subprocess

import numpy as np
import pikepdf
import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from imposition import marks
from imposition.geometry import A4_HEIGHT, A4_WIDTH, Rect
from tracking import SymbolError, _kernels, _reference, code128, datamatrix, pack_bits, qr, scale_modules

BITMAPS = arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 70)))


@settings(max_examples=60, deadline=None)
@given(BITMAPS)
def test_pack_bits_kernel_matches_reference(bitmap):
    """The Numba pack_bits equals the NumPy reference bit for bit."""
    assert np.array_equal(_kernels.pack_bits(bitmap), _reference.pack_bits(bitmap))


@settings(max_examples=60, deadline=None)
@given(BITMAPS, st.integers(1, 6), st.integers(0, 4))
def test_scale_modules_kernel_matches_reference(matrix, px, quiet):
    """The Numba scale_modules equals the NumPy reference bit for bit."""
    assert np.array_equal(
        _kernels.scale_modules(matrix, px, quiet), _reference.scale_modules(matrix, px, quiet)
    )


def test_public_wrappers_refuse_wrong_arrays():
    """The stable wrappers say what is wrong with an array instead of failing inside Numba."""
    with pytest.raises(ValueError, match="bool array"):
        pack_bits(np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="px_per_module"):
        scale_modules(np.zeros((2, 2), dtype=bool), 0, 1)


def test_symbols_are_module_matrices():
    """Text in, a bool module matrix out: DataMatrix square, Code 128 one row, QR square."""
    dm, bars, q = datamatrix("J000001|42|1/3"), code128("RR473124829DE"), qr("hello postage")
    assert dm.dtype == np.bool_ and dm.shape[0] == dm.shape[1]
    assert bars.shape[0] == 1 and bars.shape[1] > 100
    assert q.shape[0] == q.shape[1] >= 21


def test_unencodable_text_is_a_symbol_error():
    """Text a symbology cannot hold raises SymbolError naming it."""
    with pytest.raises(SymbolError):
        datamatrix("x" * 5000)


def stamp_and_read(tmp_path, bitmap: np.ndarray, box: Rect, fmt) -> list[str]:
    """Put ``bitmap`` as a 1-bit image on an A4 page, render with pdftoppm at 300 dpi, decode with
    zxing-cpp."""
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(A4_WIDTH, A4_HEIGHT))
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im=marks.image_xobject(pdf, bitmap)))
    page.obj.Contents = pdf.make_stream(marks.draw_image("/Im", box, A4_HEIGHT))
    pdf.save(tmp_path / "s.pdf")
    subprocess.run(
        ["pdftoppm", "-r", "300", "-gray", "-singlefile", str(tmp_path / "s.pdf"), str(tmp_path / "s")],
        check=True,
    )
    image = np.asarray(Image.open(tmp_path / "s.pgm"))
    return [r.text for r in zxingcpp.read_barcodes(image, formats=fmt)]


@pytest.mark.parametrize(
    ("kind", "text", "fmt"),
    [
        ("datamatrix", "J000042|1234|2/3", zxingcpp.BarcodeFormat.DataMatrix),
        ("code128", "RR473124829DE", zxingcpp.BarcodeFormat.Code128),
        ("qr", "plant-mark/1;RR473124829DE;standard;20g", zxingcpp.BarcodeFormat.QRCode),
    ],
)
def test_every_symbol_kind_decodes_from_a_rendered_pdf(tmp_path, kind, text, fmt):
    """Each symbol, stamped into a PDF and rendered, decodes with zxing-cpp to the exact text."""
    matrix = {"datamatrix": datamatrix, "code128": code128, "qr": qr}[kind](text)
    if kind == "code128":
        bitmap = marks.linear_bitmap(matrix, 10)
        box = Rect.from_mm(20, 50, bitmap.shape[1] * 0.25, 8)
    else:
        bitmap = marks.symbol_bitmap(matrix, 2)
        box = Rect.from_mm(20, 50, bitmap.shape[1] * 0.5, bitmap.shape[0] * 0.5)
    assert stamp_and_read(tmp_path, bitmap, box, fmt) == [text]
