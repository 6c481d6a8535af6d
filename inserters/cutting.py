"""Cutting: which leaf of which press sheet comes off a cutter/stacker in which order — pure arithmetic, no
PDF.

An N-up job is printed in cut-and-stack order (REFERENCE.md, Imposition): within a stack of ``L`` leaves on
``d = ceil(L / N)`` sheets, leaf ``k·d + s`` of the stack is on sheet ``s``, slot ``k``, and slots past the
stack's last leaf are blank. The cutter/stacker in front of the inserter undoes it: it cuts each stack into
``N`` piles (one per slot, sheets in print order), lays pile 0 on pile 1 and so on, and takes the blank leaves
out, so the leaves come out in job order. :func:`cut_order` is that order; :class:`CutFaults` are what a real
feeder does wrong — a sheet that misfeeds and is destroyed by the knife (its leaves never arrive), and a sheet
that misfeeds skewed and lands one place further in its stack (its leaves come out of sequence in every pile).

The library never imports :mod:`imposition`: the layout arrives as plain values in a :class:`CutSpec`.
"""

from __future__ import annotations

import enum
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass

#: Slack when checking that a leaf lies on its sheet (points): rectangles computed from millimetres round.
_ON_SHEET_TOLERANCE = 1e-6


class Backs(enum.Enum):
    """How the sheet was turned between its two sides, which decides where a leaf's back is behind its
    front."""

    #: Simplex: the sheet has no printed back.
    NONE = "none"
    #: Turned about its vertical axis: the back of a leaf is mirrored left–right on the sheet's back.
    TURN = "turn"
    #: Tumbled about its horizontal axis: the back is mirrored top–bottom and upside down.
    TUMBLE = "tumble"


@dataclass(frozen=True, slots=True)
class CutSpec:
    """How a job's press sheets are cut and stacked.

    ``sheet`` is the press sheet's (width, height) in points; ``leaves`` the leaf rectangles ``(x, y, w, h)``
    in points from the sheet front's top-left, in slot order (slot ``k`` makes pile ``k``); ``stacks`` the
    number of leaves in each cut stack, in print order (a stack is ``ceil(leaves / len(self.leaves))`` sheets
    deep); ``backs`` how the sheet was turned for its back side.
    """

    sheet: tuple[float, float]
    leaves: tuple[tuple[float, float, float, float], ...]
    stacks: tuple[int, ...]
    backs: Backs = Backs.NONE

    def __post_init__(self) -> None:
        object.__setattr__(self, "sheet", tuple(float(v) for v in self.sheet))
        object.__setattr__(self, "leaves", tuple(tuple(float(v) for v in rect) for rect in self.leaves))
        object.__setattr__(self, "stacks", tuple(self.stacks))
        object.__setattr__(self, "backs", Backs(self.backs))
        width, height = self.sheet
        if len(self.sheet) != 2 or width <= 0 or height <= 0:
            raise ValueError(f"sheet {self.sheet} must be (width, height) in points, both > 0")
        if not self.leaves:
            raise ValueError("a cut needs at least one leaf rectangle per sheet")
        for rect in self.leaves:
            x, y, w, h = rect
            if (
                w <= 0
                or h <= 0
                or x < -_ON_SHEET_TOLERANCE
                or y < -_ON_SHEET_TOLERANCE
                or x + w > width + _ON_SHEET_TOLERANCE
                or y + h > height + _ON_SHEET_TOLERANCE
            ):
                raise ValueError(f"leaf {rect} does not lie on the {width:g} × {height:g} pt sheet")
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.stacks):
            raise ValueError(f"stacks {self.stacks} must be whole numbers of leaves, each at least 1")

    @property
    def n_up(self) -> int:
        """Leaves per sheet side."""
        return len(self.leaves)

    @property
    def sides(self) -> int:
        """PDF pages per press sheet: 2 when the sheets have printed backs."""
        return 1 if self.backs is Backs.NONE else 2

    @property
    def depths(self) -> tuple[int, ...]:
        """Sheets in each stack."""
        return tuple(-(-leaves // self.n_up) for leaves in self.stacks)

    @property
    def sheet_count(self) -> int:
        """Press sheets the job was imposed on."""
        return sum(self.depths)

    @property
    def leaf_count(self) -> int:
        """Leaves the job holds (blank slots excluded)."""
        return sum(self.stacks)

    def back_rect(self, slot: int) -> tuple[float, float, float, float]:
        """Where the back of the leaf in ``slot`` is on the sheet's back page (top-left origin, as
        printed)."""
        x, y, w, h = self.leaves[slot]
        width, height = self.sheet
        if self.backs is Backs.TURN:
            return (width - x - w, y, w, h)
        if self.backs is Backs.TUMBLE:
            return (x, height - y - h, w, h)
        raise ValueError("a simplex cut has no backs")

    def to_json(self) -> str:
        """Serialise to JSON text."""
        return json.dumps(
            {
                "sheet": list(self.sheet),
                "leaves": [list(r) for r in self.leaves],
                "stacks": list(self.stacks),
                "backs": self.backs.value,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> CutSpec:
        """Read a spec written by :meth:`to_json`."""
        data = json.loads(text)
        return cls(
            tuple(data["sheet"]),
            tuple(tuple(r) for r in data["leaves"]),
            tuple(data["stacks"]),
            Backs(data["backs"]),
        )


@dataclass(frozen=True, slots=True)
class CutFaults:
    """Faults a simulated cutter suffers, deterministic by cutter-lifetime sheet number or by seed.

    Lifetime numbers count the press sheets the cutter has taken since it was new, from 1, like a press's
    lifetime counter: a configured fault happens once, and a reprinted job goes through clean.
    """

    #: Lifetime sheet numbers that misfeed and are destroyed by the knife: their leaves never come out.
    destroy_at: frozenset[int] = frozenset()
    #: Lifetime sheet numbers that misfeed skewed and land one place further in their stack (the last sheet of
    #: a stack one place earlier): their leaves come out of sequence in every pile.
    misfeed_at: frozenset[int] = frozenset()
    #: Probability that a sheet is destroyed.
    destroy_rate: float = 0.0
    #: Probability that a sheet lands out of sequence.
    misfeed_rate: float = 0.0
    #: Seed of the random faults (with the cut id, so a restarted cut suffers the same ones).
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "destroy_at", frozenset(self.destroy_at))
        object.__setattr__(self, "misfeed_at", frozenset(self.misfeed_at))
        if not (0.0 <= self.destroy_rate <= 1.0 and 0.0 <= self.misfeed_rate <= 1.0):
            raise ValueError("cutter fault rates must lie in [0, 1]")

    def plan(self, cut_id: str, first_lifetime: int, sheets: int) -> tuple[frozenset[int], frozenset[int]]:
        """(destroyed, misfed) job sheet indices (0-based) of a cut of ``sheets`` sheets whose first sheet has
        lifetime number ``first_lifetime``."""
        rng = random.Random(f"{self.seed}|{cut_id}")
        destroyed, misfed = set(), set()
        for index in range(sheets):
            number = first_lifetime + index
            destroy_draw, misfeed_draw = rng.random(), rng.random()
            if number in self.destroy_at or destroy_draw < self.destroy_rate:
                destroyed.add(index)
            elif number in self.misfeed_at or misfeed_draw < self.misfeed_rate:
                misfed.add(index)
        return frozenset(destroyed), frozenset(misfed)


#: No faults at all.
NO_CUT_FAULTS = CutFaults()


@dataclass(frozen=True, slots=True)
class CutPlan:
    """What a cut produces: ``leaves`` as (job sheet index, slot) in output order, and the sheets it lost or
    misordered (0-based job sheet indices)."""

    leaves: tuple[tuple[int, int], ...]
    destroyed: tuple[int, ...] = ()
    misfed: tuple[int, ...] = ()


def stacks_in_order(spec: CutSpec) -> list[range]:
    """The job sheet indices of each stack, in print order."""
    stacks, first = [], 0
    for depth in spec.depths:
        stacks.append(range(first, first + depth))
        first += depth
    return stacks


def cut_order(
    spec: CutSpec, received: int | None = None, destroyed: Iterable[int] = (), misfed: Iterable[int] = ()
) -> CutPlan:
    """The leaves in the order they come off the stacker: per stack, pile 0 then pile 1 …, blanks taken out.

    ``received`` sheets arrived from the press (default: all); a shortfall is taken as the job's last sheets,
    since the cutter cannot tell which sheet a press lost. ``destroyed`` sheets yield no leaf; a ``misfed``
    sheet trades places with the next sheet of its stack (the previous one when it is the stack's last).
    """
    received = spec.sheet_count if received is None else received
    destroyed, misfed = frozenset(destroyed), frozenset(misfed)
    order: list[tuple[int, int]] = []
    for stack, leaves in zip(stacks_in_order(spec), spec.stacks, strict=True):
        physical = _misfeed(list(stack), misfed)
        depth = len(stack)
        for slot in range(spec.n_up):
            for sheet in physical:
                blank = slot * depth + (sheet - stack.start) >= leaves
                if not blank and sheet < received and sheet not in destroyed:
                    order.append((sheet, slot))
    present = range(min(received, spec.sheet_count))
    return CutPlan(
        tuple(order),
        tuple(sorted(s for s in destroyed if s in present)),
        tuple(sorted(s for s in misfed if s in present and s not in destroyed)),
    )


def _misfeed(sheets: list[int], misfed: frozenset[int]) -> list[int]:
    """The stack's sheets in the order they lie after the misfeeds: each misfed sheet one place on (back at
    the end of the stack)."""
    for sheet in [s for s in sheets if s in misfed]:
        at = sheets.index(sheet)
        other = at + 1 if at + 1 < len(sheets) else at - 1
        if other >= 0:
            sheets[at], sheets[other] = sheets[other], sheets[at]
    return sheets
