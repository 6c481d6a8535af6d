"""The sheet map: which page of which piece lands on which sheet and side of an imposed job.

The inserter reconciliation, reprints and the QA station read it; it is written next to the job's PDF as JSON.
Sheet, slot, stack, page and sheet-of-piece numbers are 1-based, as printed in the control codes; page 0 is a
blank back (a leaf side that carries only its control code). ``sheet_of_piece`` counts the piece's leaves (the
A4 sheets in the envelope), which differ from press sheets when several leaves share one.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

#: Version of the sheet map's JSON layout; bump it when fields change meaning (2 added slot and stack).
SHEET_MAP_FORMAT = 2
#: Older layouts :meth:`SheetMap.from_json` still reads.
_READABLE_FORMATS = (1, 2)


class Side(enum.Enum):
    """Which side of a sheet a page is printed on."""

    FRONT = "front"
    BACK = "back"


@dataclass(frozen=True, slots=True)
class SheetRecord:
    """One printed leaf side: press sheet number in the job, side, piece id, source page number (0: blank
    back), its leaf's place in the piece, the slot on the sheet side (row-major from the top-left) and the cut
    stack."""

    sheet: int
    side: Side
    piece_id: str
    page: int
    sheet_of_piece: int
    sheets_in_piece: int
    slot: int = 1
    stack: int = 1


@dataclass(frozen=True, slots=True)
class CopyPaths:
    """How a job's pieces were copied into the output, per path (``docs/imposition.md``, "Two copy paths").

    ``fast``/``fast_pages``: pieces and pages copied by the streaming copier (the page's own objects, raw);
    ``fallback``/``fallback_pages``: pieces and pages qpdf rewrote first (pages as Form XObjects via
    ``pikepdf.Page.as_form_xobject`` and ``copy_foreign``); ``reasons`` counts the fallback pieces by why
    (``"encrypted"``, ``"repaired"``, ``"annotations"``, ``"fast path failed"``).
    """

    fast: int = 0
    fallback: int = 0
    fast_pages: int = 0
    fallback_pages: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SheetMap:
    """All pages of one imposed job in print order; ``paths`` says how its pieces were copied (not part of
    the JSON, not compared)."""

    job_id: str
    records: tuple[SheetRecord, ...]
    paths: CopyPaths = field(default_factory=CopyPaths, compare=False)

    def __iter__(self) -> Iterator[SheetRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> SheetRecord:
        return self.records[index]

    @property
    def sheet_count(self) -> int:
        """Number of physical sheets in the job."""
        return len({r.sheet for r in self.records})

    def to_json(self) -> str:
        """Serialise to JSON text (stable key order, sides as their string values)."""
        sheets = [{**asdict(r), "side": r.side.value} for r in self.records]
        return json.dumps({"format": SHEET_MAP_FORMAT, "job_id": self.job_id, "sheets": sheets}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> SheetMap:
        """Read a sheet map written by :meth:`to_json`."""
        data = json.loads(text)
        if data.get("format") not in _READABLE_FORMATS:
            raise ValueError(f"sheet map format {data.get('format')!r} is not one of {_READABLE_FORMATS}")
        records = tuple(SheetRecord(**{**s, "side": Side(s["side"])}) for s in data["sheets"])
        return cls(data["job_id"], records)
