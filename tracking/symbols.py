"""Barcode symbols as module matrices: text in, a boolean array out (True = dark module).

Encoding is libzint's (through ``zint-bindings``), a well-kept encoder we do not rewrite; this module only
turns its output into plain NumPy arrays with no quiet zone, so the raster kernels and the PDF writer decide
size, quiet zone and resolution.

Two ways in: one text at a time (:func:`datamatrix`, :func:`code128`, :func:`qr`) and a batch
(:func:`datamatrix_many`, :func:`code128_many`, :func:`qr_many`) that returns, for every text, exactly the
matrix the single function returns, at less per-symbol cost: the packed rows of all symbols are copied into one
buffer and unpacked in one NumPy call.

Both paths reuse one ``zint.Symbol`` per symbology and thread (creating and freeing a libzint symbol costs more
than encoding a short text). Before each encode the symbol's outputs are cleared (libzint would otherwise stack
the new symbol onto the old one); after a non-ASCII text the ECI is reset (libzint writes back the ECI it chose);
after a failed encode the symbol is dropped and a fresh one made.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import zint

from tracking.errors import SymbolError

_DATAMATRIX = (zint.Symbology.DATAMATRIX, "DataMatrix", True)
_CODE128 = (zint.Symbology.CODE128, "Code 128", False)
_QR = (zint.Symbology.QRCODE, "QR code", False)

#: One reusable libzint symbol per symbology, per thread (zint.Symbol is not shared between threads).
_LOCAL = threading.local()


def _new_symbol(symbology: zint.Symbology, square: bool) -> tuple[zint.Symbol, np.ndarray, memoryview]:
    """A configured symbol with a NumPy view and a flat byte view of its ``encoded_data`` (libzint's fixed
    rows × row-stride array inside the symbol, rewritten in place by every encode)."""
    symbol = zint.Symbol()
    symbol.symbology = symbology
    # UNICODE: characters are taken as text (Latin-1, or an ECI where the symbology allows one), not raw UTF-8 bytes.
    symbol.input_mode = zint.InputMode.UNICODE
    if square:
        symbol.option_3 = zint.DataMatrixOptions.SQUARE.value
    data = symbol.encoded_data
    return symbol, np.asarray(data), data.cast("B")


def _symbol(symbology: zint.Symbology, square: bool) -> tuple[zint.Symbol, np.ndarray, memoryview]:
    """This thread's reusable symbol for ``symbology`` (with its views, see :func:`_new_symbol`)."""
    try:
        cache = _LOCAL.symbols
    except AttributeError:
        cache = _LOCAL.symbols = {}
    entry = cache.get(symbology)
    if entry is None:
        entry = cache[symbology] = _new_symbol(symbology, square)
    return entry


def _check(name: str, text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{name} takes text (str), not {type(text).__name__}")
    if not text:
        raise SymbolError(name, text, "the text is empty")


def _encode_into(symbol: zint.Symbol, symbology: zint.Symbology, name: str, text: str) -> None:
    """Encode ``text`` into the reused ``symbol``; a failure drops the symbol (the next call makes a fresh one).

    The outputs are cleared first (libzint would otherwise stack the new symbol under the old one). libzint
    writes the ECI it chose for non-ASCII text back into the symbol, so after such a text the ECI is reset.
    """
    symbol.clear()
    try:
        symbol.encode(text)
    except RuntimeError as exc:
        _LOCAL.symbols.pop(symbology, None)
        raise SymbolError(name, text, str(exc)) from None
    if not text.isascii():
        symbol.eci = 0


def _encode(kind: tuple[zint.Symbology, str, bool], text: str) -> np.ndarray:
    """Encode ``text`` with libzint and unpack its module rows into a bool matrix (rows × width).

    The hot path of every single-symbol call: :func:`_check`, :func:`_symbol` and :func:`_encode_into` inlined.
    """
    symbology, name, square = kind
    if not isinstance(text, str) or not text:
        _check(name, text)
    try:
        symbol, data, _ = _LOCAL.symbols[symbology]
    except (AttributeError, KeyError):
        symbol, data, _ = _symbol(symbology, square)
    symbol.clear()
    try:
        symbol.encode(text)
    except RuntimeError as exc:
        _LOCAL.symbols.pop(symbology, None)
        raise SymbolError(name, text, str(exc)) from None
    if not text.isascii():
        symbol.eci = 0
    # libzint stores each row as bits, least significant bit first (its module_is_set macro).
    width = symbol.width
    return np.unpackbits(data[: symbol.rows, : (width + 7) // 8], axis=1, count=width,
                         bitorder="little").view(np.bool_)


def _encode_many(kind: tuple[zint.Symbology, str, bool], texts: Iterable[str]) -> list[np.ndarray]:
    """Encode every text; return their module matrices as views into one unpacked buffer.

    Each symbol's packed rows (whole rows of libzint's row stride) are appended to one byte buffer; the buffer
    is unpacked once, as wide as the widest symbol, and each matrix is the view of its rows and width.
    """
    symbology, name, square = kind
    symbol, data, flat = _symbol(symbology, square)
    stride = data.shape[1]
    buffer = bytearray()
    shapes: list[tuple[int, int]] = []
    for text in texts:
        _check(name, text)
        _encode_into(symbol, symbology, name, text)
        rows = symbol.rows
        buffer += flat[: rows * stride]
        shapes.append((rows, symbol.width))
    if not shapes:
        return []
    widest = max(width for _, width in shapes)
    packed = np.frombuffer(buffer, np.uint8).reshape(-1, stride)[:, : (widest + 7) // 8]
    bits = np.unpackbits(packed, axis=1, bitorder="little").view(np.bool_)
    out = []
    row = 0
    for rows, width in shapes:
        out.append(bits[row:row + rows, :width])
        row += rows
    return out


def datamatrix(text: str) -> np.ndarray:
    """Encode ``text`` as a square DataMatrix ECC200; return its module matrix without quiet zone."""
    return _encode(_DATAMATRIX, text)


def code128(text: str) -> np.ndarray:
    """Encode ``text`` (Latin-1) as Code 128; return shape ``(1, n_modules)``, the bar modules without quiet zone."""
    return _encode(_CODE128, text)


def qr(text: str) -> np.ndarray:
    """Encode ``text`` as a QR code (libzint's automatic version and mask); return its modules without quiet zone."""
    return _encode(_QR, text)


_MANY_DOC = """Encode every text as {what}; return a list of module matrices, one per text, each equal to ``{single}(text)``.

    The matrices are views into one buffer of the whole batch (not C-contiguous; writing to one does not change
    another; one kept alive keeps the batch's buffer alive). A text that cannot be encoded raises the same error
    the single function raises, and nothing is returned for the batch."""


def datamatrix_many(texts: Iterable[str]) -> list[np.ndarray]:
    return _encode_many(_DATAMATRIX, texts)


def code128_many(texts: Iterable[str]) -> list[np.ndarray]:
    return _encode_many(_CODE128, texts)


def qr_many(texts: Iterable[str]) -> list[np.ndarray]:
    return _encode_many(_QR, texts)


datamatrix_many.__doc__ = _MANY_DOC.format(what="square DataMatrix ECC200 symbols", single="datamatrix")
code128_many.__doc__ = _MANY_DOC.format(what="Code 128 symbols", single="code128")
qr_many.__doc__ = _MANY_DOC.format(what="QR codes", single="qr")
