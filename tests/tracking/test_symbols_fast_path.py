"""The single-symbol functions (Code 128's one-row table look-up, the others' ``np.unpackbits``) return, bit
for bit, the modules libzint encoded, read one by one from a fresh symbol: for every text length up to the
longest a symbology holds, for every row width modulo 8, and for texts that switch code sets or need an
ECI."""

from __future__ import annotations

import numpy as np
import pytest
import zint
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking import SymbolError, code128, datamatrix, qr

SINGLE = {"datamatrix": datamatrix, "code128": code128, "qr": qr}
SYMBOLOGY = {
    "datamatrix": zint.Symbology.DATAMATRIX,
    "code128": zint.Symbology.CODE128,
    "qr": zint.Symbology.QRCODE,
}

#: Characters that steer Code 128 into each code set (A: controls, B: lower case, C: digit pairs) and Latin-1.
ALPHABETS = ("a", "7", "Z9", "\x01", "é", "ab12\x02ÿ")
#: The longest texts of code sets B, A and Latin-1 that libzint's Code 128 holds (1,146 modules: a row of 144
#: bytes, libzint's whole row stride).
LONGEST_CODE128 = ("a" * 101, "\x01" * 101, "é" * 99)


def _reference(kind: str, text: str) -> np.ndarray:
    """The modules of a fresh libzint symbol, bit by bit in plain Python (libzint's rows are packed least
    significant bit first)."""
    symbol = zint.Symbol()
    symbol.symbology = SYMBOLOGY[kind]
    symbol.input_mode = zint.InputMode.UNICODE
    if kind == "datamatrix":
        symbol.option_3 = zint.DataMatrixOptions.SQUARE.value
    symbol.encode(text)
    rows = symbol.encoded_data.tolist()
    return np.array(
        [[rows[r][c // 8] >> (c % 8) & 1 for c in range(symbol.width)] for r in range(symbol.rows)],
        dtype=np.bool_,
    )


def _texts(kind: str) -> list[str]:
    """Every length of every alphabet that ``kind`` can encode (lengths stop at the first one refused)."""
    texts = []
    for alphabet in ALPHABETS:
        for length in range(1, 260):
            text = (alphabet * length)[:length]
            try:
                SINGLE[kind](text)
            except SymbolError:
                break
            texts.append(text)
    return texts


@pytest.fixture(scope="module", params=sorted(SINGLE))
def kind_and_texts(request) -> tuple[str, list[str]]:
    return request.param, _texts(request.param)


def test_single_function_equals_bitwise_reference(kind_and_texts):
    """For every length of every alphabet, the matrix equals the reference: same shape, dtype and modules."""
    kind, texts = kind_and_texts
    for text in texts:
        matrix, expected = SINGLE[kind](text), _reference(kind, text)
        assert matrix.dtype == np.bool_ and matrix.shape == expected.shape, text
        assert np.array_equal(matrix, expected), text


def test_code128_texts_reach_every_row_width_modulo_8():
    """The table above really covers the edges of the one-row look-up: widths of every residue modulo 8, and
    rows that fill libzint's whole row stride."""
    widths = {code128(text).shape[1] for text in _texts("code128")}
    assert {w % 8 for w in widths} == set(range(8))
    stride = np.asarray(zint.Symbol().encoded_data).shape[1]
    for text in LONGEST_CODE128:
        assert (code128(text).shape[1] + 7) // 8 == stride
        assert np.array_equal(code128(text), _reference("code128", text))


@pytest.mark.parametrize("kind", sorted(SINGLE))
def test_each_call_returns_its_own_contiguous_writable_array(kind):
    """A result is C-contiguous, writable and shares no memory with libzint's buffer or the next result, so
    encoding another text (or writing to one result) changes no earlier result."""
    first = SINGLE[kind]("RR473124829DE")
    kept = first.copy()
    second = SINGLE[kind]("J000042|1234|2/3")
    assert first.flags.c_contiguous and first.flags.writeable
    assert not np.shares_memory(first, second)
    assert np.array_equal(first, kept)
    second[...] = ~second
    assert np.array_equal(SINGLE[kind]("RR473124829DE"), kept)


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), min_size=1, max_size=110))
def test_code128_equals_bitwise_reference_for_any_latin1_text(text):
    """Any Latin-1 text Code 128 holds gives the reference's modules (and one row)."""
    try:
        matrix = code128(text)
    except SymbolError:
        return
    assert matrix.shape[0] == 1
    assert np.array_equal(matrix, _reference("code128", text))
