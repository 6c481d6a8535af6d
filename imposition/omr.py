"""OMR marks for older inserters: which marks a leaf carries and where, within the readers' geometry limits.

A track of horizontal bars at an even pitch, read top to bottom on the front of every leaf: benchmark
(always), end of collation (on a piece's last leaf), parity (makes the count of dark marks even), one select
mark per insert feeder, the 3-bit wrap-around sequence (leaf number in the job modulo 8, most significant bit
first), and safety (always). The limits come from REFERENCE.md (Envelope inserters) and are checked when the
spec is made.
"""

from __future__ import annotations

from dataclasses import dataclass

from imposition.errors import OmrGeometryError
from imposition.geometry import A4_HEIGHT, A4_WIDTH, Rect, mm

#: Thinnest mark readers take.
MIN_THICKNESS = mm(0.35)
#: Thickest mark readers take.
MAX_THICKNESS = mm(0.7)
#: Shortest mark readers take.
MIN_LENGTH = mm(10)
#: Smallest even pitch between mark positions (a tenth of an inch).
MIN_PITCH = mm(2.54)
#: Most positions in one track.
MAX_POSITIONS = 24
#: Longest track, first to last position.
MAX_SPAN = mm(70)
#: Clear zone beside the marks.
CLEAR_BESIDE = mm(3)
#: Clear zone before the first and after the last mark.
CLEAR_ALONG = mm(20)
#: Bits of the wrap-around sequence.
SEQUENCE_BITS = 3


@dataclass(frozen=True, slots=True)
class OmrSpec:
    """Where the OMR track sits on an A4 leaf (top-left origin, points) and how many insert feeders it
    selects.

    The default is a track in the right margin, 194–204 mm from the left, starting 110 mm from the top, at the
    common 4.23 mm (1/6 inch) pitch.
    """

    #: Left end of every mark.
    x: float = mm(194)
    #: Top of the first mark.
    top: float = mm(110)
    #: Length of each mark (along the sheet's width).
    length: float = mm(10)
    #: Thickness of each mark.
    thickness: float = mm(0.5)
    #: Distance between the tops of consecutive positions.
    pitch: float = mm(4.23)
    #: Insert feeders that can be selected (one mark position each).
    feeders: int = 3

    def __post_init__(self) -> None:
        checks = [
            ("thickness", MIN_THICKNESS <= self.thickness <= MAX_THICKNESS, "must be 0.35–0.7 mm"),
            ("length", self.length >= MIN_LENGTH, "must be at least 10 mm"),
            ("pitch", self.pitch >= MIN_PITCH, "must be at least 2.54 mm"),
            ("feeders", 0 <= self.feeders <= 9, "must be 0–9 (one digit each in the control code)"),
            (
                "feeders",
                self.positions <= MAX_POSITIONS,
                f"make {self.positions} positions; at most 24 fit a track",
            ),
            (
                "pitch",
                (self.positions - 1) * self.pitch + self.thickness <= MAX_SPAN,
                "makes the track longer than 70 mm; lower the pitch or the feeder count",
            ),
            (
                "x",
                self.x >= CLEAR_BESIDE and self.x + self.length + CLEAR_BESIDE <= A4_WIDTH,
                "leaves no 3 mm clear zone beside the marks inside the leaf",
            ),
            (
                "top",
                self.top >= CLEAR_ALONG and self.clear_zone.y + self.clear_zone.h <= A4_HEIGHT,
                "leaves no 20 mm clear zone before and after the track inside the leaf",
            ),
        ]
        for setting, ok, reason in checks:
            if not ok:
                raise OmrGeometryError(setting, reason)

    @property
    def positions(self) -> int:
        """Mark positions in the track: benchmark, end of collation, parity, selects, sequence, safety."""
        return 3 + self.feeders + SEQUENCE_BITS + 1

    @property
    def clear_zone(self) -> Rect:
        """The area that must stay free of other print on both sides: the track plus its clear zones."""
        span = (self.positions - 1) * self.pitch + self.thickness
        return Rect(
            self.x - CLEAR_BESIDE,
            self.top - CLEAR_ALONG,
            self.length + 2 * CLEAR_BESIDE,
            span + 2 * CLEAR_ALONG,
        )

    def bits(self, last: bool, selects: str, sequence: int) -> list[bool]:
        """Dark (True) or light for each position, top to bottom, of a leaf.

        ``last``: the piece's last leaf (end of collation); ``selects``: feeder digits; ``sequence``: the
        leaf's number in the job (its low 3 bits are printed).
        """
        chosen = {int(digit) for digit in selects}
        if any(feeder > self.feeders for feeder in chosen):
            raise OmrGeometryError(
                "feeders", f"selects {selects!r} name a feeder above the {self.feeders} configured"
            )
        select_bits = [feeder in chosen for feeder in range(1, self.feeders + 1)]
        sequence_bits = [bool(sequence >> shift & 1) for shift in range(SEQUENCE_BITS - 1, -1, -1)]
        body = [last, *select_bits, *sequence_bits]
        parity = (2 + sum(body)) % 2 == 1  # benchmark and safety are always dark
        return [True, last, parity, *select_bits, *sequence_bits, True]

    def marks(self, last: bool, selects: str, sequence: int) -> list[Rect]:
        """The dark bars of a leaf as rectangles on the leaf (top-left origin)."""
        return [
            Rect(self.x, self.top + i * self.pitch, self.length, self.thickness)
            for i, dark in enumerate(self.bits(last, selects, sequence))
            if dark
        ]

    def read(self, dark: list[bool]) -> tuple[bool, str, int]:
        """Decode a track read top to bottom back into ``(last, selects, sequence mod 8)``; check the parity.

        The inverse of :meth:`bits`, for tests and the simulated inserter.
        """
        if len(dark) != self.positions or not (dark[0] and dark[-1]):
            raise OmrGeometryError("track", f"read {len(dark)} positions without benchmark and safety marks")
        if sum(dark) % 2:
            raise OmrGeometryError("track", "parity is odd: a mark was misread")
        selects = "".join(str(i + 1) for i, bit in enumerate(dark[3 : 3 + self.feeders]) if bit)
        sequence = 0
        for bit in dark[3 + self.feeders : 3 + self.feeders + SEQUENCE_BITS]:
            sequence = sequence * 2 + int(bit)
        return dark[1], selects, sequence
