"""The batch symbol API returns exactly what the single-symbol functions return, and the single functions
(which reuse one libzint symbol per thread) return exactly what a fresh libzint symbol gives."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import zint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracking import SymbolError, code128, code128_many, datamatrix, datamatrix_many, qr, qr_many

SINGLE = {"datamatrix": datamatrix, "code128": code128, "qr": qr}
MANY = {"datamatrix": datamatrix_many, "code128": code128_many, "qr": qr_many}
SYMBOLOGY = {
    "datamatrix": zint.Symbology.DATAMATRIX,
    "code128": zint.Symbology.CODE128,
    "qr": zint.Symbology.QRCODE,
}

#: Short texts: mostly ASCII (the plant's texts), some Latin-1 and some beyond (libzint then picks an ECI,
#: which it writes back into the symbol: the reuse must not leak it into the next text).
TEXT = st.text(
    st.one_of(
        st.characters(min_codepoint=32, max_codepoint=126),
        st.characters(min_codepoint=1, max_codepoint=0x17F),
    ),
    min_size=1,
    max_size=40,
)


def _fresh(kind: str, text: str) -> np.ndarray | None:
    """The module matrix from a new zint.Symbol (what the single functions did before reuse); None if
    refused."""
    symbol = zint.Symbol()
    symbol.symbology = SYMBOLOGY[kind]
    symbol.input_mode = zint.InputMode.UNICODE
    if kind == "datamatrix":
        symbol.option_3 = zint.DataMatrixOptions.SQUARE.value
    try:
        symbol.encode(text)
    except RuntimeError:
        return None
    width = symbol.width
    packed = np.asarray(symbol.encoded_data)[: symbol.rows, : (width + 7) // 8]
    return np.unpackbits(packed, axis=1, count=width, bitorder="little").view(np.bool_)


def _single_or_none(kind: str, text: str) -> np.ndarray | None:
    try:
        return SINGLE[kind](text)
    except SymbolError:
        return None


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.dtype == b.dtype == np.bool_ and a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize("kind", sorted(MANY))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXT, max_size=12))
def test_batch_equals_single(kind, texts):
    """Every matrix of a batch equals the single function's matrix for the same text (shape, dtype,
    modules)."""
    encodable = [t for t in texts if _single_or_none(kind, t) is not None]
    batch = MANY[kind](encodable)
    assert len(batch) == len(encodable)
    for text, matrix in zip(encodable, batch, strict=True):
        assert _same(matrix, SINGLE[kind](text))


@pytest.mark.parametrize("kind", sorted(SINGLE))
@settings(max_examples=40, deadline=None)
@given(texts=st.lists(TEXT, min_size=1, max_size=8))
def test_reused_symbol_equals_fresh_symbol(kind, texts):
    """In any order of texts (long after short, non-ASCII after ASCII, failures between), the single function
    returns what a fresh libzint symbol gives, and refuses what it refuses."""
    for text in texts:
        assert _same(_single_or_none(kind, text), _fresh(kind, text))


def test_batch_keeps_the_plants_texts_and_order():
    """A batch of the plant's kinds of text comes back in order, each matrix its own (writing one changes no
    other)."""
    texts = [f"J{n:06d}|{1000 + n}|1/3" for n in range(30)] + ["x" * 200, "a"]
    batch = datamatrix_many(texts)
    assert [m.shape for m in batch] == [datamatrix(t).shape for t in texts]
    before = batch[1].copy()
    batch[0][...] = ~batch[0]
    assert np.array_equal(batch[1], before)
    assert np.array_equal(batch[-1], datamatrix("a"))


def test_batch_accepts_any_iterable_and_empty():
    assert code128_many([]) == []
    generated = code128_many(f"RR{n:09d}DE" for n in range(3))
    assert all(np.array_equal(m, code128(f"RR{n:09d}DE")) for n, m in enumerate(generated))


def test_batch_refuses_like_the_single_functions():
    """Empty text, non-text and unencodable text fail the whole batch with the single function's error; the
    next call (single or batch) is not affected by the failure."""
    with pytest.raises(SymbolError):
        datamatrix_many(["ok", ""])
    with pytest.raises(TypeError):
        qr_many(["ok", b"bytes"])  # type: ignore[list-item]  # bytes on purpose: the batch must refuse them
    with pytest.raises(SymbolError):
        datamatrix_many(["ok", "x" * 5000, "fine"])
    assert np.array_equal(datamatrix_many(["fine"])[0], _fresh("datamatrix", "fine"))
    assert np.array_equal(datamatrix("fine"), _fresh("datamatrix", "fine"))


def test_threads_each_get_their_own_symbol():
    """Batches encoded concurrently in several threads equal the single-threaded results."""
    texts = [f"plant-mark/1;RR{n:09d}DE;standard;20g" for n in range(40)]
    expected = [qr(t) for t in texts]
    results: dict[int, list[np.ndarray]] = {}

    def work(k: int) -> None:
        out = []
        for _ in range(5):
            out = qr_many(texts) if k % 2 else [qr(t) for t in texts]
        results[k] = out

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(all(np.array_equal(a, b) for a, b in zip(results[k], expected, strict=True)) for k in range(4))
