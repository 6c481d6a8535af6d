"""Tracking library: identifiers, barcode symbols, raster kernels and the per-sheet control code.

Takes and returns plain values (strings, NumPy arrays, dataclasses); never imports :mod:`plant`.
"""

from tracking.control_code import ControlCode, format_control, parse_control
from tracking.errors import ControlCodeError, InvalidIdentifier, InvalidIdentifierPart, SymbolError, TrackingError
from tracking.ids import (
    IdentifierKind,
    is_valid_ru14,
    is_valid_s10,
    make_ru14,
    make_s10,
    ru14_check_digit,
    s10_check_digit,
    validate,
    validate_ru14,
    validate_s10,
)
from tracking.raster import pack_bits, scale_modules
from tracking.symbols import code128, datamatrix, qr

__all__ = [
    "ControlCode",
    "ControlCodeError",
    "IdentifierKind",
    "InvalidIdentifier",
    "InvalidIdentifierPart",
    "SymbolError",
    "TrackingError",
    "code128",
    "datamatrix",
    "format_control",
    "is_valid_ru14",
    "is_valid_s10",
    "make_ru14",
    "make_s10",
    "pack_bits",
    "parse_control",
    "qr",
    "ru14_check_digit",
    "s10_check_digit",
    "scale_modules",
    "validate",
    "validate_ru14",
    "validate_s10",
]
