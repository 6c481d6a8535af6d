"""Tracking library: identifiers, barcode symbols, raster kernels, the per-sheet control code and the
plant's signed postage mark.

Takes and returns plain values (strings, NumPy arrays, dataclasses); never imports :mod:`plant`.
"""

from tracking.control_code import ControlCode, format_control, parse_control
from tracking.errors import (
    ControlCodeError,
    InvalidIdentifier,
    InvalidIdentifierPart,
    RasterError,
    ScanError,
    SymbolError,
    TrackingError,
)
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
from tracking.postage import (
    MarkPayload,
    MarkSignatureInvalid,
    MarkUnreadable,
    MassAboveTopBand,
    PostageError,
    WeightBand,
    band_for,
    decode_and_verify,
    encode_mark,
    piece_mass_g,
)
from tracking.raster import (
    Stamp,
    pack_bits,
    render_symbol,
    scale_modules,
    stamp_gray,
    stamp_packed,
    threshold_pack,
)
from tracking.symbols import code128, code128_many, datamatrix, datamatrix_many, qr, qr_many

__all__ = [
    "ControlCode",
    "ControlCodeError",
    "IdentifierKind",
    "InvalidIdentifier",
    "InvalidIdentifierPart",
    "MarkPayload",
    "MarkSignatureInvalid",
    "MarkUnreadable",
    "MassAboveTopBand",
    "PostageError",
    "SymbolError",
    "TrackingError",
    "WeightBand",
    "band_for",
    "code128",
    "code128_many",
    "datamatrix",
    "datamatrix_many",
    "decode_and_verify",
    "encode_mark",
    "format_control",
    "is_valid_ru14",
    "is_valid_s10",
    "make_ru14",
    "make_s10",
    "pack_bits",
    "RasterError",
    "render_symbol",
    "ScanError",
    "Stamp",
    "stamp_gray",
    "stamp_packed",
    "threshold_pack",
    "parse_control",
    "piece_mass_g",
    "qr",
    "qr_many",
    "ru14_check_digit",
    "s10_check_digit",
    "scale_modules",
    "validate",
    "validate_ru14",
    "validate_s10",
]
