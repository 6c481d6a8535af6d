"""The device-raster kernels (render, stamp, threshold + pack) against their NumPy references, and their
output read back by zxing-cpp from a real pdftoppm rendering of a 1-bit page image."""

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

from tracking import _kernels, _reference, code128, datamatrix, qr
from tracking.errors import RasterError, TrackingError
from tracking.raster import Stamp, mm_to_px, render_symbol, stamp_gray, stamp_packed, threshold_pack

MATRICES = arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12)))
MODULE_PX = st.floats(1.0, 7.5, allow_nan=False)


def _stamps(draw_bitmaps, positions):
    return [Stamp(b, top, left) for b, (top, left) in zip(draw_bitmaps, positions, strict=True)]


STAMPS = st.lists(
    st.tuples(
        arrays(np.bool_, st.tuples(st.integers(1, 9), st.integers(1, 20))),
        st.integers(-10, 30),
        st.integers(-20, 40),
    ),
    min_size=1,
    max_size=4,
)


def _batch(stamps):
    from tracking.raster import _batch as batch

    return batch(Stamp(*s) for s in stamps)


@settings(max_examples=80, deadline=None)
@given(MATRICES, MODULE_PX, MODULE_PX, st.integers(0, 3), st.integers(0, 3), st.integers(0, 2))
def test_render_modules_kernel_matches_reference(matrix, mw, mh, qx, qy, reduction):
    """The Numba render_modules equals the NumPy reference bit for bit at any module size and reduction."""
    assert np.array_equal(
        _kernels.render_modules(matrix, mw, mh, qx, qy, reduction),
        _reference.render_modules(matrix, mw, mh, qx, qy, reduction),
    )


@settings(max_examples=60, deadline=None)
@given(STAMPS, st.integers(0, 255))
def test_stamp_gray_kernel_matches_reference(stamps, fill):
    """The Numba stamp_gray equals the NumPy reference bit for bit, clipping at every page edge."""
    kernel_page, reference_page = np.full((25, 33), fill, np.uint8), np.full((25, 33), fill, np.uint8)
    _kernels.stamp_gray(kernel_page, *_batch(stamps), np.uint8(0), np.uint8(255))
    _reference.stamp_gray(reference_page, *_batch(stamps), 0, 255)
    assert np.array_equal(kernel_page, reference_page)


@settings(max_examples=60, deadline=None)
@given(STAMPS, arrays(np.uint8, (25, 5)), st.integers(33, 40))
def test_stamp_packed_kernel_matches_reference(stamps, packed, width):
    """The Numba stamp_packed equals the NumPy reference bit for bit, padding bits included."""
    kernel_page, reference_page = packed.copy(), packed.copy()
    _kernels.stamp_packed(kernel_page, width, *_batch(stamps))
    _reference.stamp_packed(reference_page, width, *_batch(stamps))
    assert np.array_equal(kernel_page, reference_page)


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(1, 50))), st.integers(0, 255))
def test_threshold_pack_kernel_matches_reference(gray, threshold):
    """The Numba threshold_pack equals the NumPy reference bit for bit."""
    assert np.array_equal(
        _kernels.threshold_pack(gray, threshold), _reference.threshold_pack(gray, threshold)
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.floats(0.5, 9.0, allow_nan=False))
def test_module_edges_never_drift(count, module_px):
    """Every rendered edge lies within half a pixel of its exact position, so a symbol keeps its size."""
    edges = _kernels.module_edges(count, module_px)
    assert np.all(np.abs(edges - np.arange(count + 1) * module_px) <= 0.5)


def test_bar_width_reduction_only_thins_edges_facing_light():
    """Two touching dark modules stay one bar; only its outer sides lose the reduction."""
    bitmap = render_symbol(
        np.array([[False, True, True, False]]),
        600,
        25.4 / 600 * 4,
        quiet_modules=0,
        bar_width_reduction_mm=25.4 / 600 * 2,
        bar_height_mm=1,
    )
    assert np.nonzero(bitmap[0])[0].tolist() == list(range(5, 11))


def test_render_symbol_size_follows_the_module_size():
    """A 24×24 DataMatrix with 0.5 mm modules and one quiet module is 13 mm wide at any dpi (±1 px)."""
    matrix = datamatrix("J000042|RR473124829DE|12/13|F1-2-3|DIVERT")
    assert matrix.shape == (24, 24)
    for dpi in (203, 300, 600):
        assert abs(render_symbol(matrix, dpi, 0.5).shape[1] - mm_to_px(13, dpi)) <= 1


@pytest.mark.parametrize(
    ("argument", "kwargs"),
    [
        ("module_mm", {"module_mm": 0.01}),
        ("bar_width_reduction_mm", {"bar_width_reduction_mm": 0.6}),
        ("bar_height_mm", {"bar_height_mm": None}),
    ],
)
def test_render_symbol_refuses_impossible_sizes(argument, kwargs):
    """Sizes a device cannot render raise RasterError (a TrackingError) naming the argument."""
    params = {"module_mm": 0.5, "bar_height_mm": None} | kwargs
    matrix = code128("RR473124829DE") if argument == "bar_height_mm" else datamatrix("x")
    with pytest.raises(RasterError) as caught:
        render_symbol(
            matrix,
            300,
            params["module_mm"],
            bar_width_reduction_mm=params.get("bar_width_reduction_mm", 0),
            bar_height_mm=params["bar_height_mm"],
        )
    assert isinstance(caught.value, TrackingError) and caught.value.argument == argument


def test_threshold_pack_refuses_out_of_range_threshold():
    """A threshold outside 0–255 raises RasterError instead of wrapping around in uint8."""
    with pytest.raises(RasterError, match="threshold"):
        threshold_pack(np.zeros((2, 2), np.uint8), 300)


CODES = [
    ("datamatrix", "J000042|1234|2/3", zxingcpp.BarcodeFormat.DataMatrix),
    ("code128", "RR473124829DE", zxingcpp.BarcodeFormat.Code128),
    ("qr", "plant-mark/1;RR473124829DE;standard;20g", zxingcpp.BarcodeFormat.QRCode),
]


@pytest.fixture(scope="module")
def rendered_page(tmp_path_factory):
    """A 600-dpi gray A4 page with text-like gray noise, three codes stamped, thresholded and packed into a
    1-bit PDF page image, rendered back with pdftoppm at 300 dpi."""
    dpi, height, width = 600, 7016, 4961
    page = np.full((height, width), 250, np.uint8)
    page[4000:4400, 300:4600] = np.random.default_rng(7).integers(0, 256, (400, 4300), dtype=np.uint8)
    stamps = [
        Stamp(render_symbol(datamatrix(CODES[0][1]), dpi, 0.5, bar_width_reduction_mm=0.04), 5900, 140),
        Stamp(
            render_symbol(code128(CODES[1][1]), dpi, 0.25, bar_height_mm=6, bar_width_reduction_mm=0.04),
            1910,
            570,
        ),
        Stamp(render_symbol(qr(CODES[2][1]), dpi, 0.5, quiet_modules=4), 2500, 2500),
    ]
    packed = stamp_packed(threshold_pack(page), width, stamps)
    path = tmp_path_factory.mktemp("page") / "page.pdf"
    pdf = pikepdf.new()
    pdf_page = pdf.add_blank_page(page_size=(595.276, 841.89))
    image = pikepdf.Stream(
        pdf,
        packed.tobytes(),
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=width,
        Height=height,
        ColorSpace=pikepdf.Name.DeviceGray,
        BitsPerComponent=1,
    )
    pdf_page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im=image))
    pdf_page.obj.Contents = pdf.make_stream(b"q 595.276 0 0 841.89 0 0 cm /Im Do Q")
    pdf.save(path)
    subprocess.run(
        ["pdftoppm", "-r", "300", "-gray", "-singlefile", str(path), str(path.with_suffix(""))], check=True
    )
    return np.asarray(Image.open(path.with_suffix(".pgm")))


@pytest.mark.parametrize(("kind", "text", "fmt"), CODES)
def test_codes_stamped_into_a_packed_page_decode_from_its_rendering(rendered_page, kind, text, fmt):
    """Each code stamped into the packed 1-bit page decodes with zxing-cpp from the PDF's 300-dpi
    rendering."""
    assert [r.text for r in zxingcpp.read_barcodes(rendered_page, formats=fmt)] == [text]


def test_stamp_gray_paints_the_quiet_zone_opaque():
    """Stamping clears what was under the symbol's quiet zone (the zone must be light whatever was
    printed)."""
    page = np.zeros((40, 40), np.uint8)
    bitmap = render_symbol(datamatrix("x"), 254, 0.3)
    stamp_gray(page, [Stamp(bitmap, 0, 0)])
    assert page[0, : bitmap.shape[1]].min() == 255
