"""Barcode symbols as module matrices: text in, a boolean array out (True = dark module).

Encoding is libzint's (through ``zint-bindings``), a well-kept encoder we do not rewrite; this module only
turns its output into plain NumPy arrays with no quiet zone, so the raster kernels and the PDF writer decide
size, quiet zone and resolution.

Two ways in: one text at a time (:func:`datamatrix`, :func:`code128`, :func:`qr`) and a batch
(:func:`datamatrix_many`, :func:`code128_many`, :func:`qr_many`) that returns, for every text, exactly the
matrix the single function returns, at less per-symbol cost: the packed rows of all symbols are copied into
one buffer and unpacked in one NumPy call.

Both paths reuse one ``zint.Symbol`` per symbology and thread (creating and freeing a libzint symbol costs
more than encoding a short text). Before each encode the symbol's outputs are cleared (libzint would otherwise
stack the new symbol onto the old one); after a non-ASCII text the ECI is reset (libzint writes back the ECI
it chose); after a failed encode the symbol is dropped and a fresh one made.

The single path reads no more from libzint than it must (each attribute read costs about as much as a NumPy
slice): the row count is known from the symbology (Code 128 one row, DataMatrix and QR square). A single Code
128 costs little to encode, so a generic unpack would be a large share of its time: its one row is turned into
modules by looking each packed byte up in a 256-entry table (one NumPy ``take``). Square symbols are unpacked
with ``np.unpackbits``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from enum import Enum
from typing import NamedTuple

import numpy as np
import zint

from tracking.errors import SymbolError


class _Shape(Enum):
    """How many rows a symbology's symbols have, known without asking libzint (reading ``rows`` costs
    time)."""

    ONE_ROW = "one row"
    SQUARE = "as many rows as modules across"


class _Kind(NamedTuple):
    """A symbology as this module uses it."""

    symbology: zint.Symbology
    #: The name in error messages; also the key of the thread's reused symbol (a str hashes faster than the
    #: enum).
    name: str
    #: Ask libzint for square symbols (DataMatrix: it would otherwise pick rectangles where they fit).
    square_option: bool
    shape: _Shape


_DATAMATRIX = _Kind(zint.Symbology.DATAMATRIX, "DataMatrix", square_option=True, shape=_Shape.SQUARE)
_CODE128 = _Kind(zint.Symbology.CODE128, "Code 128", square_option=False, shape=_Shape.ONE_ROW)
_QR = _Kind(zint.Symbology.QRCODE, "QR code", square_option=False, shape=_Shape.SQUARE)
#: The hot path compares with this module global (cheaper to look up than the Enum class's attribute).
_ONE_ROW = _Shape.ONE_ROW

#: One reusable libzint symbol per symbology, per thread (zint.Symbol is not shared between threads).
_LOCAL = threading.local()

#: Each byte value's 8 modules, least significant bit first (libzint's order), as the 8 bytes (0 or 1) of one
#: uint64: ``_BYTE_MODULES.take(packed).view(np.bool_)`` unpacks a row. Built by viewing the unpacked bytes,
#: so the words hold them in memory order whatever the machine's byte order.
_BYTE_MODULES = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").view(
    np.uint64
)[:, 0]


def _new_symbol(kind: _Kind) -> tuple[zint.Symbol, np.ndarray, np.ndarray]:
    """A configured symbol with a 2-D and a flat NumPy view of its ``encoded_data`` (libzint's fixed
    rows × row-stride array inside the symbol, rewritten in place by every encode)."""
    symbol = zint.Symbol()
    symbol.symbology = kind.symbology
    # UNICODE: characters are taken as text (Latin-1, or an ECI where the symbology allows one), not raw UTF-8
    # bytes.
    symbol.input_mode = zint.InputMode.UNICODE
    if kind.square_option:
        symbol.option_3 = zint.DataMatrixOptions.SQUARE.value
    data = np.asarray(symbol.encoded_data)
    return symbol, data, data.reshape(-1)


def _symbol(kind: _Kind) -> tuple[zint.Symbol, np.ndarray, np.ndarray]:
    """This thread's reusable symbol for ``kind`` (with its views, see :func:`_new_symbol`)."""
    try:
        cache: dict[str, tuple[zint.Symbol, np.ndarray, np.ndarray]] = _LOCAL.symbols
    except AttributeError:
        cache = _LOCAL.symbols = {}
    entry = cache.get(kind.name)
    if entry is None:
        entry = cache[kind.name] = _new_symbol(kind)
    return entry


def _check(name: str, text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{name} takes text (str), not {type(text).__name__}")
    if not text:
        raise SymbolError(name, text, "the text is empty")


def _encode_into(symbol: zint.Symbol, name: str, text: str) -> None:
    """Encode ``text`` into the reused ``symbol``; a failure drops the symbol (the next call makes a fresh
    one).

    The outputs are cleared first (libzint would otherwise stack the new symbol under the old one). libzint
    writes the ECI it chose for non-ASCII text back into the symbol, so after such a text the ECI is reset.
    """
    symbol.clear()
    try:
        symbol.encode(text)
    except RuntimeError as exc:
        _LOCAL.symbols.pop(name, None)
        raise SymbolError(name, text, str(exc)) from None
    if not text.isascii():
        symbol.eci = 0


def _encode(kind: _Kind, text: str) -> np.ndarray:
    """Encode ``text`` with libzint and unpack its module rows into a bool matrix (rows × width,
    C-contiguous).

    The hot path of every single-symbol call: :func:`_check`, :func:`_symbol` and :func:`_encode_into`
    inlined.
    """
    _, name, _, shape = kind
    if not isinstance(text, str) or not text:
        _check(name, text)
    try:
        symbol, data, cells = _LOCAL.symbols[name]
    except (AttributeError, KeyError):
        symbol, data, cells = _symbol(kind)
    symbol.clear()
    try:
        symbol.encode(text)
    except RuntimeError as exc:
        _LOCAL.symbols.pop(name, None)
        raise SymbolError(name, text, str(exc)) from None
    if not text.isascii():
        symbol.eci = 0
    width = symbol.width
    if shape is _ONE_ROW:
        # The table look-up yields whole bytes of modules; the (1, width) array is the leading part of them.
        return np.ndarray((1, width), np.bool_, _BYTE_MODULES.take(cells[: (width + 7) // 8]))
    # Square: ``width`` rows. libzint stores each row as bits, least significant bit first (its module_is_set
    # macro).
    return np.unpackbits(data[:width, : (width + 7) // 8], axis=1, count=width, bitorder="little").view(
        np.bool_
    )


def _encode_many(kind: _Kind, texts: Iterable[str]) -> list[np.ndarray]:
    """Encode every text; return their module matrices as views into one unpacked buffer.

    Each symbol's packed rows (whole rows of libzint's row stride) are appended to one byte buffer; the buffer
    is unpacked once, as wide as the widest symbol, and each matrix is the view of its rows and width.
    """
    name = kind.name
    symbol, data, cells = _symbol(kind)
    stride = data.shape[1]
    flat = cells.data  # bytearray += ndarray would be NumPy's broadcasting add, not a byte append
    buffer = bytearray()
    shapes: list[tuple[int, int]] = []
    for text in texts:
        _check(name, text)
        _encode_into(symbol, name, text)
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
        out.append(bits[row : row + rows, :width])
        row += rows
    return out


def datamatrix(text: str) -> np.ndarray:
    """Encode ``text`` as a square DataMatrix ECC200; return its module matrix without quiet zone."""
    return _encode(_DATAMATRIX, text)


def code128(text: str) -> np.ndarray:
    """Encode ``text`` (Latin-1) as Code 128; return shape ``(1, n_modules)``, the bar modules without quiet
    zone."""
    return _encode(_CODE128, text)


def qr(text: str) -> np.ndarray:
    """Encode ``text`` as a QR code (libzint's automatic version and mask); return its modules without quiet
    zone."""
    return _encode(_QR, text)


_MANY_DOC = """Encode every text as {what}; return a list of module matrices, one per text, each equal to
    ``{single}(text)``.

    The matrices are views into one buffer of the whole batch (not C-contiguous; writing to one does not
    change another; one kept alive keeps the batch's buffer alive). A text that cannot be encoded raises the
    same error the single function raises, and nothing is returned for the batch."""


def datamatrix_many(texts: Iterable[str]) -> list[np.ndarray]:
    return _encode_many(_DATAMATRIX, texts)


def code128_many(texts: Iterable[str]) -> list[np.ndarray]:
    return _encode_many(_CODE128, texts)


def qr_many(texts: Iterable[str]) -> list[np.ndarray]:
    return _encode_many(_QR, texts)


datamatrix_many.__doc__ = _MANY_DOC.format(what="square DataMatrix ECC200 symbols", single="datamatrix")
code128_many.__doc__ = _MANY_DOC.format(what="Code 128 symbols", single="code128")
qr_many.__doc__ = _MANY_DOC.format(what="QR codes", single="qr")
