"""Barcode symbols as module matrices: text in, a boolean array out (True = dark module).

Encoding is libzint's (through ``zint-bindings``), a well-kept encoder we do not rewrite; this module only
turns its output into plain NumPy arrays with no quiet zone, so the raster kernels and the PDF writer decide
size, quiet zone and resolution.
"""

from __future__ import annotations

import numpy as np
import zint

from tracking.errors import SymbolError


def _encode(symbology: zint.Symbology, name: str, text: str, *, square: bool = False) -> np.ndarray:
    """Encode ``text`` with libzint and unpack its module rows into a bool matrix (rows × width)."""
    if not isinstance(text, str):
        raise TypeError(f"{name} takes text (str), not {type(text).__name__}")
    if not text:
        raise SymbolError(name, text, "the text is empty")
    symbol = zint.Symbol()
    symbol.symbology = symbology
    # UNICODE: characters are taken as text (Latin-1, or an ECI where the symbology allows one), not raw UTF-8 bytes.
    symbol.input_mode = zint.InputMode.UNICODE
    if square:
        symbol.option_3 = zint.DataMatrixOptions.SQUARE.value
    try:
        symbol.encode(text)
    except RuntimeError as exc:
        raise SymbolError(name, text, str(exc)) from None
    # libzint stores each row as bits, least significant bit first (its module_is_set macro).
    width = symbol.width
    packed = np.asarray(symbol.encoded_data)[: symbol.rows, : (width + 7) // 8]
    return np.unpackbits(packed, axis=1, count=width, bitorder="little").view(np.bool_)


def datamatrix(text: str) -> np.ndarray:
    """Encode ``text`` as a square DataMatrix ECC200; return its module matrix without quiet zone."""
    return _encode(zint.Symbology.DATAMATRIX, "DataMatrix", text, square=True)


def code128(text: str) -> np.ndarray:
    """Encode ``text`` (Latin-1) as Code 128; return shape ``(1, n_modules)``, the bar modules without quiet zone."""
    return _encode(zint.Symbology.CODE128, "Code 128", text)


def qr(text: str) -> np.ndarray:
    """Encode ``text`` as a QR code (libzint's automatic version and mask); return its modules without quiet zone."""
    return _encode(zint.Symbology.QRCODE, "QR code", text)
