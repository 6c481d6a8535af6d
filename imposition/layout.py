"""Layouts: which page of which piece lands on which sheet, side and slot — pure arithmetic, no PDF.

Imposition happens in two steps, both pure so that they can be property-tested and reused by every writer:

1. **Leaves.** Each piece becomes consecutive *leaves* (the A4 sheet the recipient holds after cutting). In a
   simplex job one page makes one leaf; in a duplex job two pages make one leaf (front, back) unless the piece
   is a simplex letter, which gets blank backs. A piece always starts on a fresh leaf, so the inserter can
   collate it.
2. **Cut and stack.** ``N`` leaves share a press sheet. Leaves are dealt deep-first: within a stack of depth
   ``d``, leaf ``k·d + s`` goes to sheet ``s``, slot ``k``; after the guillotine, pile 0 goes on pile 1 and so
   on and the leaves come out in order (REFERENCE.md, Imposition). Stacks are closed on a piece boundary
   (padded with blank slots at their end) so that every stack holds whole pieces, and each stack is only as
   deep as it needs to be, so no sheet is wholly blank.

Duplex backs: work-and-turn puts the back of column ``c`` at column ``ncols−1−c`` of the same row;
work-and-tumble keeps the column, takes row ``nrows−1−r`` and turns the page by 180°.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypedDict, TypeVar, Unpack

from imposition.errors import LayoutError, PieceTooLong
from imposition.geometry import A3_LANDSCAPE, A4_HEIGHT, A4_WIDTH, SRA3_LANDSCAPE, WEB_FRAME, Rect

#: Default stack depth in sheets: one guillotine lift of 80 g/m² paper is about 5 cm, i.e. 500 sheets.
DEFAULT_STACK_DEPTH = 500
#: Marker for "no leaf here" in a sheet's slot tuple and for "no page" on a leaf side.
BLANK = -1


class Scheme(enum.Enum):
    """How leaves are put on press sheets."""

    #: One A4 leaf per A4 sheet.
    ONE_UP = "1up"
    #: Two A4 leaves side by side on a landscape A3 or SRA3 sheet, dealt in cut-and-stack order.
    CUT_STACK = "2up-cutstack"
    #: Two A4 lanes across a 520 mm continuous-feed web, dealt deep-first like cut and stack.
    WEB_2UP = "web-2up"


class SheetSize(enum.Enum):
    """Press sheet sizes the plant knows, in the orientation the layouts use them."""

    A4 = "A4"
    A3 = "A3"
    SRA3 = "SRA3"
    #: One A4-long frame of the 520 mm web.
    WEB520 = "WEB520"

    @property
    def points(self) -> tuple[float, float]:
        """Width and height in points as the layouts place leaves on it."""
        return {"A4": (A4_WIDTH, A4_HEIGHT), "A3": A3_LANDSCAPE, "SRA3": SRA3_LANDSCAPE, "WEB520": WEB_FRAME}[
            self.value
        ]


class Duplex(enum.Enum):
    """Whether sheets are printed on both sides and how the sheet is turned between them."""

    NONE = "none"
    #: Turned about its vertical axis: the back's columns are mirrored.
    TURN = "turn"
    #: Tumbled about its horizontal axis: the back's rows are mirrored and pages turn by 180°.
    TUMBLE = "tumble"


#: What a stack holds: leaf indices when planning, the writer's leaves when imposing.
T = TypeVar("T")


class LayoutOptions(TypedDict, total=False):
    """The fields of :class:`Layout` besides scheme and sheet, as :meth:`Layout.for_scheme` takes them."""

    duplex: Duplex
    stack_depth: int
    pad_stacks: bool


#: Which sheets each scheme can use.
_SHEETS = {
    Scheme.ONE_UP: (SheetSize.A4,),
    Scheme.CUT_STACK: (SheetSize.A3, SheetSize.SRA3),
    Scheme.WEB_2UP: (SheetSize.WEB520,),
}


@dataclass(frozen=True, slots=True)
class Layout:
    """A sheet layout: scheme, sheet, duplex mode and cut-stack depth (``stack_depth`` sheets at most per
    stack).

    ``pad_stacks`` closes each stack on a piece boundary (the inserter takes whole pieces per stack); without
    it stacks are always ``stack_depth`` deep and a piece may straddle two of them.
    """

    scheme: Scheme = Scheme.ONE_UP
    sheet: SheetSize = SheetSize.A4
    duplex: Duplex = Duplex.NONE
    stack_depth: int = DEFAULT_STACK_DEPTH
    pad_stacks: bool = True

    def __post_init__(self) -> None:
        if self.sheet not in _SHEETS[self.scheme]:
            allowed = ", ".join(s.value for s in _SHEETS[self.scheme])
            raise LayoutError(
                f"layout {self.scheme.value} cannot use sheet {self.sheet.value}; use {allowed}"
            )
        if (
            isinstance(self.stack_depth, bool)
            or not isinstance(self.stack_depth, int)
            or self.stack_depth < 1
        ):
            raise LayoutError(f"stack depth {self.stack_depth!r} is not a whole number of sheets ≥ 1")

    @classmethod
    def for_scheme(
        cls, scheme: Scheme, sheet: SheetSize | None = None, **options: Unpack[LayoutOptions]
    ) -> Layout:
        """A layout of ``scheme`` on ``sheet``, or on the scheme's first sheet (A4, A3, WEB520) when None."""
        return cls(scheme, sheet or _SHEETS[scheme][0], **options)

    @property
    def grid(self) -> tuple[int, int]:
        """Columns and rows of leaves on a sheet."""
        return (1, 1) if self.scheme is Scheme.ONE_UP else (2, 1)

    @property
    def n_up(self) -> int:
        """Leaves per sheet side."""
        ncols, nrows = self.grid
        return ncols * nrows

    @property
    def duplexed(self) -> bool:
        """True when sheets are printed on both sides."""
        return self.duplex is not Duplex.NONE

    def slot_rect(self, slot: int) -> Rect:
        """The A4 leaf area of ``slot`` (row-major from the top-left) on a sheet side, leaves centred as a
        block."""
        ncols, nrows = self.grid
        width, height = self.sheet.points
        x0, y0 = (width - ncols * A4_WIDTH) / 2, (height - nrows * A4_HEIGHT) / 2
        row, col = divmod(slot, ncols)
        return Rect(x0 + col * A4_WIDTH, y0 + row * A4_HEIGHT, A4_WIDTH, A4_HEIGHT)

    def back_slot(self, slot: int) -> tuple[int, bool]:
        """Where the back of the leaf in front ``slot`` is printed on the sheet's back, and whether turned
        180°."""
        ncols, nrows = self.grid
        row, col = divmod(slot, ncols)
        if self.duplex is Duplex.TURN:
            return row * ncols + (ncols - 1 - col), False
        if self.duplex is Duplex.TUMBLE:
            return (nrows - 1 - row) * ncols + col, True
        raise LayoutError("a simplex layout has no backs")


@dataclass(frozen=True, slots=True)
class Leaf:
    """One leaf of a piece: ``piece`` index, leaf ``number`` of ``of`` (1-based), and the 0-based page indices
    printed on its ``front`` and ``back`` (:data:`BLANK` for none)."""

    piece: int
    number: int
    of: int
    front: int
    back: int = BLANK


def plan_leaves(
    page_counts: Sequence[int], duplexed: bool, simplex: Sequence[bool] | None = None
) -> list[Leaf]:
    """Turn pieces' page counts into leaves in job order.

    ``duplexed``: pages pair up front/back (an odd last page gets a blank back). ``simplex[i]`` marks piece
    ``i`` as a simplex letter inside a duplex job: one page per leaf with blank backs.
    """
    leaves: list[Leaf] = []
    for piece, count in enumerate(page_counts):
        if count < 1:
            raise LayoutError(f"piece #{piece + 1} has {count} pages; every piece needs at least one")
        pairs = duplexed and not (simplex is not None and simplex[piece])
        step = 2 if pairs else 1
        of = -(-count // step)
        for number in range(of):
            front = number * step
            back = front + 1 if pairs and front + 1 < count else BLANK
            leaves.append(Leaf(piece, number + 1, of, front, back))
    return leaves


class Stacker(Generic[T]):
    """Groups leaves into cut stacks as pieces arrive, so a writer can emit each stack as soon as it is
    closed.

    A stack holds at most ``n_up · depth`` leaves. With ``pad`` (and more than one leaf per sheet) a stack is
    closed before a piece that would not fit, so stacks hold whole pieces; a piece longer than a stack raises
    :class:`PieceTooLong`. Without ``pad`` stacks are filled to the brim and pieces may straddle them.
    """

    def __init__(self, n_up: int, depth: int, pad: bool = True) -> None:
        self.n_up = n_up
        self.capacity = n_up * depth
        self.pad = pad and n_up > 1
        self._open: list[T] = []

    def add(self, leaves: Sequence[T], piece_name: str) -> list[list[T]]:
        """Add one piece's leaves; return the stacks this closes (often none)."""
        closed: list[list[T]] = []
        if self.pad:
            if len(leaves) > self.capacity:
                raise PieceTooLong(piece_name, len(leaves), self.capacity)
            if len(self._open) + len(leaves) > self.capacity:
                closed.append(self._open)
                self._open = []
            self._open.extend(leaves)
            return closed
        for leaf in leaves:
            self._open.append(leaf)
            if len(self._open) == self.capacity:
                closed.append(self._open)
                self._open = []
        return closed

    def finish(self) -> list[list[T]]:
        """Close and return the last stack (none when it is empty)."""
        closed, self._open = ([self._open] if self._open else []), []
        return closed


def deal(members: Sequence[T], n_up: int) -> list[tuple[T | None, ...]]:
    """Deal one stack's leaves onto sheets deep-first: ``d = ceil(len / n_up)`` sheets, leaf ``k·d + s`` on
    sheet ``s``, slot ``k``; slots past the end hold None."""
    depth = -(-len(members) // n_up)
    return [
        tuple(members[k * depth + s] if k * depth + s < len(members) else None for k in range(n_up))
        for s in range(depth)
    ]


@dataclass(frozen=True, slots=True)
class SheetPlan:
    """The placement of leaves on sheets: ``sheets[i]`` holds the leaf index in each slot (or :data:`BLANK`),
    ``stacks`` the ``(first sheet index, depth)`` of each cut stack."""

    sheets: tuple[tuple[int, ...], ...]
    stacks: tuple[tuple[int, int], ...]


def cut_and_stack(
    leaf_pieces: Sequence[int],
    n_up: int,
    depth: int,
    pad: bool = True,
    piece_names: Sequence[str] | None = None,
) -> SheetPlan:
    """Deal leaves onto sheets deep-first: within a stack of depth ``d``, leaf ``k·d + s`` of the stack goes
    to sheet ``s``, slot ``k``.

    ``leaf_pieces[i]`` is the piece of leaf ``i`` (a piece's leaves are consecutive). Stacks come from
    :class:`Stacker` (at most ``n_up · depth`` leaves, closed on piece boundaries with ``pad``; a piece longer
    than a stack raises :class:`PieceTooLong`, named from ``piece_names``) and each is ``ceil(leaves / n_up)``
    sheets deep, so its blank slots sit at its end.
    """
    stacker: Stacker[int] = Stacker(n_up, depth, pad)
    stacks: list[list[int]] = []
    start = 0
    while start < len(leaf_pieces):
        end = start
        while end < len(leaf_pieces) and leaf_pieces[end] == leaf_pieces[start]:
            end += 1
        piece = leaf_pieces[start]
        stacks += stacker.add(range(start, end), piece_names[piece] if piece_names else f"#{piece + 1}")
        start = end
    stacks += stacker.finish()
    sheets: list[tuple[int, ...]] = []
    bounds: list[tuple[int, int]] = []
    for members in stacks:
        dealt = deal(members, n_up)
        bounds.append((len(sheets), len(dealt)))
        sheets += [tuple(BLANK if leaf is None else leaf for leaf in row) for row in dealt]
    return SheetPlan(tuple(sheets), tuple(bounds))


def unstack(plan: SheetPlan) -> list[int]:
    """Simulate the guillotine and the stacking: the leaves as they come off the piles, blanks dropped.

    Each stack is cut into ``n_up`` piles (one per slot, sheets in print order); pile 0 goes on pile 1 and so
    on.
    """
    order: list[int] = []
    for first, depth in plan.stacks:
        rows = plan.sheets[first : first + depth]
        for slot in range(len(rows[0]) if rows else 0):
            order.extend(row[slot] for row in rows if row[slot] != BLANK)
    return order
