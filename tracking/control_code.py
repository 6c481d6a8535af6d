"""The per-sheet control code: ``job|piece|sheet i/n`` or ``job|piece|sheet i/n|selects|flags``.

E.g. ``J000012|4711|2/3`` or ``J000012|4711|2/3|13|D``. ``selects`` lists the insert feeders (digits 1–9, each
once, ascending) whose insert goes into this piece's envelope; ``flags`` are capital letters, each once in
alphabetical order: ``D`` divert the piece, ``R`` the reverse (back) side of a duplex leaf. The three-field
form is the same code with no selects and no flags; readers accept both.

Printed as a DataMatrix on every sheet so the inserter (and any camera downstream) knows which mail piece a
sheet belongs to and where in the piece it is: insert when ``i == n``; divert when ``i > n`` or the sequence
breaks. Formatting is strict; parsing accepts ``i > n`` because a misprinted or mixed-up stack must still be
read and then diverted, not crash the reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tracking.errors import ControlCodeError

#: Separator between the fields of a control code; therefore forbidden inside the job and piece fields.
SEPARATOR = "|"

_SHEET_PATTERN = re.compile(r"^([0-9]+)/([0-9]+)$")
_SELECTS_PATTERN = re.compile(r"^1?2?3?4?5?6?7?8?9?$")
_FLAGS_PATTERN = re.compile(r"^A?B?C?D?E?F?G?H?I?J?K?L?M?N?O?P?Q?R?S?T?U?V?W?X?Y?Z?$")


@dataclass(frozen=True, slots=True)
class ControlCode:
    """The fields of one sheet's control code: job id, piece id, this sheet's number ``sheet`` of ``of``
    (1-based), the insert feeder ``selects`` and the ``flags`` (empty in the three-field form)."""

    job: str
    piece: str
    sheet: int
    of: int
    selects: str = ""
    flags: str = ""
    #: True when the code was written in the five-field form (it then prints its selects and flags fields);
    #: not part of equality: ``J|P|1/2`` and ``J|P|1/2||`` are the same code.
    extended: bool = field(default=False, compare=False)

    @property
    def is_last(self) -> bool:
        """True on the last sheet of the piece: the inserter closes the set here."""
        return self.sheet == self.of

    @property
    def is_overrun(self) -> bool:
        """True when the sheet number exceeds the piece's sheet count: the set must be diverted."""
        return self.sheet > self.of

    @property
    def divert(self) -> bool:
        """True when the ``D`` flag asks the inserter to divert the piece."""
        return "D" in self.flags

    @property
    def reverse(self) -> bool:
        """True when the code is printed on the back of a leaf (flag ``R``): collation reads fronts."""
        return "R" in self.flags

    def __str__(self) -> str:
        text = f"{self.job}{SEPARATOR}{self.piece}{SEPARATOR}{self.sheet}/{self.of}"
        if self.extended or self.selects or self.flags:
            text += f"{SEPARATOR}{self.selects}{SEPARATOR}{self.flags}"
        return text


def _check_field(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ControlCodeError(value, f"the {name} field must be non-empty text")
    if SEPARATOR in value:
        raise ControlCodeError(value, f"the {name} field must not contain {SEPARATOR!r}, the field separator")


def _check_extras(selects: str, flags: str) -> None:
    if not isinstance(selects, str) or not _SELECTS_PATTERN.match(selects):
        raise ControlCodeError(selects, "selects must be feeder digits 1-9, each once, ascending (e.g. '13')")
    if not isinstance(flags, str) or not _FLAGS_PATTERN.match(flags):
        raise ControlCodeError(
            flags, "flags must be capital letters, each once, in alphabetical order (e.g. 'DR')"
        )


def format_control(
    job: str, piece: str, sheet: int, of: int, selects: str | None = None, flags: str | None = None
) -> str:
    """Return the control code text for sheet ``sheet`` of ``of`` (1 ≤ sheet ≤ of) of piece ``piece`` in job
    ``job``.

    With ``selects`` or ``flags`` given (even empty) the five-field form ``job|piece|i/n|selects|flags`` is
    written; without both, the three-field form.
    """
    _check_field("job", job)
    _check_field("piece", piece)
    for name, value in (("sheet", sheet), ("of", of)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ControlCodeError(value, f"the {name} number must be an integer")
    if not 1 <= sheet <= of:
        raise ControlCodeError(
            f"{sheet}/{of}", "the sheet number must be between 1 and the piece's sheet count"
        )
    extended = selects is not None or flags is not None
    selects, flags = selects or "", flags or ""
    _check_extras(selects, flags)
    return str(ControlCode(job, piece, sheet, of, selects, flags, extended))


def parse_control(text: str) -> ControlCode:
    """Read a control code text back into its fields; raise :class:`ControlCodeError` when it is malformed.

    Both the three- and the five-field form are read. ``sheet > of`` is accepted (see
    :attr:`ControlCode.is_overrun`); ``sheet`` and ``of`` must be at least 1.
    """
    if not isinstance(text, str):
        raise ControlCodeError(text, f"expected text, got {type(text).__name__}")
    fields = text.split(SEPARATOR)
    if len(fields) not in (3, 5):
        raise ControlCodeError(
            text,
            f"expected 3 fields job|piece|i/n or 5 fields job|piece|i/n|selects|flags "
            f"separated by {SEPARATOR!r}, found {len(fields)}",
        )
    job, piece, position = fields[:3]
    selects, flags = fields[3:] if len(fields) == 5 else ("", "")
    _check_extras(selects, flags)
    if not job or not piece:
        raise ControlCodeError(text, "the job and piece fields must not be empty")
    match = _SHEET_PATTERN.match(position)
    if match is None:
        raise ControlCodeError(text, f"the sheet field {position!r} must read i/n with digits 0-9, e.g. 2/3")
    sheet, of = int(match[1]), int(match[2])
    if sheet < 1 or of < 1:
        raise ControlCodeError(text, "sheet number and sheet count must both be at least 1")
    return ControlCode(job, piece, sheet, of, selects, flags, len(fields) == 5)
