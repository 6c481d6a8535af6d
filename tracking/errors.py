"""The tracking library's error tree.

Every error the library raises on purpose derives from :class:`TrackingError`, carries the offending
values as attributes (so callers can log or map them without parsing text) and has a message that
tells the operator what to fix.
"""

from __future__ import annotations


class TrackingError(Exception):
    """Base class of every error raised on purpose by :mod:`tracking`."""


class InvalidIdentifier(TrackingError):
    """A tracking identifier (UPU S10 or Russian 14-digit) is malformed.

    ``identifier`` is the text as given, ``reason`` says exactly what is wrong with it.
    """

    def __init__(self, identifier: object, reason: str) -> None:
        self.identifier = identifier
        self.reason = reason
        super().__init__(
            f"Tracking id {identifier!r} is invalid: {reason}. Correct the id or the id range it came from."
        )


class InvalidIdentifierPart(TrackingError):
    """A part handed to an identifier constructor (service, serial, country, postcode…) is out of range.

    ``part`` names the part, ``value`` is what was given, ``reason`` says what is allowed.
    """

    def __init__(self, part: str, value: object, reason: str) -> None:
        self.part = part
        self.value = value
        self.reason = reason
        super().__init__(
            f"Cannot build a tracking id: {part} {value!r} {reason}. Check the configured id range."
        )


class SymbolError(TrackingError):
    """A text cannot be encoded in the requested barcode symbology.

    ``symbology`` names the symbol kind, ``text`` is the input, ``reason`` is the encoder's explanation.
    """

    def __init__(self, symbology: str, text: str, reason: str) -> None:
        self.symbology = symbology
        self.text = text
        self.reason = reason
        shown = text if len(text) <= 40 else text[:37] + "..."
        super().__init__(
            f"Cannot encode {shown!r} as {symbology}: {reason}. Shorten the text or restrict it to "
            "characters the symbology supports."
        )


class ControlCodeError(TrackingError):
    """A per-sheet control code cannot be formatted from the given fields, or read text is not one.

    ``text`` is the offending text (or the offending field value), ``reason`` says what is wrong.
    """

    def __init__(self, text: object, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"Control code {text!r} is invalid: {reason}.")


class RasterError(TrackingError, ValueError):
    """A raster operation got an argument it cannot work with (a size, a resolution, an array).

    Also a :class:`ValueError`, which the raster wrappers raised before this class existed.

    ``argument`` names it, ``value`` is what was given, ``reason`` says what is allowed.
    """

    def __init__(self, argument: str, value: object, reason: str) -> None:
        self.argument = argument
        self.value = value
        self.reason = reason
        super().__init__(f"Cannot rasterise: {argument} {value!r} {reason}.")


class ScanError(TrackingError):
    """A scan cannot be read as asked: an unreadable image file, a region outside the image, a bad argument.

    ``subject`` names what is wrong (a file, a region, an option), ``value`` is what was given, ``reason``
    says what to fix. A code that is simply not found is no error: it is reported as missing (grade F).
    """

    def __init__(self, subject: str, value: object, reason: str) -> None:
        self.subject = subject
        self.value = value
        self.reason = reason
        super().__init__(f"Cannot read the scan: {subject} {value!r} {reason}.")
