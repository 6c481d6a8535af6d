"""The per-sheet control code: ``job|piece|sheet i/n``, e.g. ``J000012|4711|2/3``.

Printed as a DataMatrix on every sheet so the inserter (and any camera downstream) knows which mail piece a
sheet belongs to and where in the piece it is: insert when ``i == n``; divert when ``i > n`` or the sequence
breaks. Formatting is strict; parsing accepts ``i > n`` because a misprinted or mixed-up stack must still be
read and then diverted, not crash the reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracking.errors import ControlCodeError

#: Separator between the fields of a control code; therefore forbidden inside the job and piece fields.
SEPARATOR = "|"

_SHEET_PATTERN = re.compile(r"^([0-9]+)/([0-9]+)$")


@dataclass(frozen=True, slots=True)
class ControlCode:
    """The fields of one sheet's control code: job id, piece id, and this sheet's number ``sheet`` of ``of`` (1-based)."""

    job: str
    piece: str
    sheet: int
    of: int

    @property
    def is_last(self) -> bool:
        """True on the last sheet of the piece: the inserter closes the set here."""
        return self.sheet == self.of

    @property
    def is_overrun(self) -> bool:
        """True when the sheet number exceeds the piece's sheet count: the set must be diverted."""
        return self.sheet > self.of

    def __str__(self) -> str:
        return f"{self.job}{SEPARATOR}{self.piece}{SEPARATOR}{self.sheet}/{self.of}"


def _check_field(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ControlCodeError(value, f"the {name} field must be non-empty text")
    if SEPARATOR in value:
        raise ControlCodeError(value, f"the {name} field must not contain {SEPARATOR!r}, the field separator")


def format_control(job: str, piece: str, sheet: int, of: int) -> str:
    """Return the control code text for sheet ``sheet`` of ``of`` (1 ≤ sheet ≤ of) of piece ``piece`` in job ``job``."""
    _check_field("job", job)
    _check_field("piece", piece)
    for name, value in (("sheet", sheet), ("of", of)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ControlCodeError(value, f"the {name} number must be an integer")
    if not 1 <= sheet <= of:
        raise ControlCodeError(f"{sheet}/{of}", "the sheet number must be between 1 and the piece's sheet count")
    return str(ControlCode(job, piece, sheet, of))


def parse_control(text: str) -> ControlCode:
    """Read a control code text back into its fields; raise :class:`ControlCodeError` when it is malformed.

    ``sheet > of`` is accepted (see :attr:`ControlCode.is_overrun`); ``sheet`` and ``of`` must be at least 1.
    """
    if not isinstance(text, str):
        raise ControlCodeError(text, f"expected text, got {type(text).__name__}")
    fields = text.split(SEPARATOR)
    if len(fields) != 3:
        raise ControlCodeError(text, f"expected 3 fields job|piece|i/n separated by {SEPARATOR!r}, found {len(fields)}")
    job, piece, position = fields
    if not job or not piece:
        raise ControlCodeError(text, "the job and piece fields must not be empty")
    match = _SHEET_PATTERN.match(position)
    if match is None:
        raise ControlCodeError(text, f"the sheet field {position!r} must read i/n with digits 0-9, e.g. 2/3")
    sheet, of = int(match[1]), int(match[2])
    if sheet < 1 or of < 1:
        raise ControlCodeError(text, "sheet number and sheet count must both be at least 1")
    return ControlCode(job, piece, sheet, of)
