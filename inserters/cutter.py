"""The cutter/stacker in front of an inserter: N-up press sheets in, the leaves in job order out.

An inserter line that takes N-up work has a cutter/stacker (a guillotine or a rotary cutter with a merger) in
front of the feeder: it cuts each stack of press sheets into piles, lays the piles on one another and takes
the blank leaves out, so the inserter's feeder and camera get the leaves in the order the pieces were imposed.
The order is :func:`inserters.cutting.cut_order`; this module is the device around it.

:class:`Cutter` is the role as a host sees it; :class:`SimulatedCutter` is driver and device of a simulated
one that does the real work behind a folder protocol, the way :class:`~inserters.simulated.SimulatedInserter`
does:

- driver side: :meth:`~SimulatedCutter.submit` writes ``jobs/<cut>.json`` (job id, printed sheets, the
  :class:`~inserters.cutting.CutSpec`) atomically; :meth:`~SimulatedCutter.find` reads ``results/<cut>.json``;
- device side (:meth:`~SimulatedCutter.step` for tests, :meth:`~SimulatedCutter.run` in a thread): takes cuts
  in submission order, works at ``sheets_per_minute`` of device time (``time_scale`` wall seconds per device
  second, 0 = instantly) on an injectable clock, suffers its :class:`~inserters.cutting.CutFaults`, and writes
  ``output/<cut>.pdf`` — one A4 page per leaf side, fronts followed by their backs in duplex work — before the
  result. The lifetime sheet counter lives in ``state.json``; a restarted device cuts the job it was cutting
  again with the same lifetime numbers, hence the same faults, and never touches a cut whose result exists.

The cutter keeps its own books (:mod:`printers.books`, ``<folder>/books.jsonl``): each cut it started
(``kind: cut``, ``event: started`` or ``restarted``) and finished, every leaf that came out (``kind: leaf``:
cut, job, 1-based press ``sheet``, ``slot`` on the sheet, ``n`` in output order) and every sheet it destroyed
or misfed (``kind: sheet``), booked before the result is written: a cut done again after a crash shows its
leaves twice (:meth:`SimulatedCutter.leaf_counts`).
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypedDict, runtime_checkable

import pikepdf
import structlog

from inserters.cutting import NO_CUT_FAULTS, Backs, CutFaults, CutPlan, CutSpec, cut_order
from inserters.errors import InserterError
from inserters.mailrun import atomic_write
from printers.books import Books, Record, tally

log = structlog.get_logger(__name__)

#: Default rated speed of a cutter/stacker, press sheets per minute of device time (a rotary cutter-merger).
DEFAULT_SHEETS_PER_MINUTE = 300.0
#: Wall seconds the device thread waits between steps.
POLL_INTERVAL_S = 0.05
#: Wall seconds the device thread pauses after a failed step before it tries again.
FAILED_STEP_PAUSE_S = 1.0
#: Cut ids name files, so they must be plain file names.
CUT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: Resource name of the sheet side each leaf page draws (as a Form XObject, clipped by the leaf's media box).
_SHEET_FORM = "/Sheet"


class CutterError(InserterError):
    """Base of the cutter's errors."""


class DuplicateCut(CutterError):
    """The cutter already has a cut of this id; sending the sheets again would cut them twice."""

    def __init__(self, cutter: str, cut_id: str) -> None:
        self.cutter, self.cut_id = cutter, cut_id
        super().__init__(
            f"Cutter {cutter!r} already has cut {cut_id}; ask it for the cut's result instead of "
            "sending the sheets again."
        )


class UnknownCut(CutterError):
    """The cutter has no cut of this id."""

    def __init__(self, cutter: str, cut_id: str) -> None:
        self.cutter, self.cut_id = cutter, cut_id
        super().__init__(f"Cutter {cutter!r} has no cut {cut_id}; submit the cut first.")


class BadCutId(CutterError):
    """A cut id that cannot name the cut's files (it must be a plain file name)."""

    def __init__(self, cut_id: str) -> None:
        self.cut_id = cut_id
        super().__init__(
            f"Cut id {cut_id!r} cannot be sent to a cutter; use letters, digits, '.', '_' or '-' "
            "(at most 128, starting with a letter or digit)."
        )


@dataclass(frozen=True, slots=True)
class CutJob:
    """A cut: the printed press sheets of ``job_id`` (one PDF page per sheet side, in print order) and how
    they were imposed."""

    cut_id: str
    job_id: str
    sheets_pdf: Path
    spec: CutSpec


@dataclass(frozen=True, slots=True)
class CutResult:
    """The cutter's word on a cut. While ``finished`` is False only the expected sheet count is known.

    ``output_pdf`` holds the leaves that came out, one page per leaf side in output order; ``destroyed`` and
    ``misfed`` are the job's press sheet numbers (1-based) the cutter lost or put out of sequence; a shortfall
    of ``sheets_received`` against ``sheets_expected`` means the press delivered fewer sheets than were
    imposed.
    """

    cut_id: str
    finished: bool
    sheets_expected: int
    output_pdf: Path | None = None
    leaves: int = 0
    sheets_received: int = 0
    destroyed: tuple[int, ...] = ()
    misfed: tuple[int, ...] = ()
    message: str = ""

    @property
    def faulted(self) -> bool:
        """True when the leaves that came out are not all the leaves, in order."""
        return bool(self.destroyed or self.misfed or self.sheets_received < self.sheets_expected)


@runtime_checkable
class Cutter(Protocol):
    """A cutter/stacker as the host sees it."""

    name: str

    def submit(self, job: CutJob) -> None:
        """Send the cut; raise DuplicateCut when the cutter already has it."""

    def find(self, cut_id: str) -> CutResult | None:
        """The cut's result so far, or None when the cutter never got it (ask before any resubmission)."""

    def result(self, cut_id: str) -> CutResult:
        """The cut's result so far (``finished`` False while it is cut); UnknownCut when absent."""


class _CutTicket(TypedDict):
    """A submitted cut as its ticket ``jobs/<cut_id>.json`` holds it."""

    cut_id: str
    job_id: str
    sheets_pdf: str
    spec: object  # the CutSpec's JSON, parsed
    submitted_ns: int


class _CurrentCut(TypedDict):
    """The cut in the machine, as ``state.json`` remembers it across a restart."""

    cut_id: str
    first: int


class _CutterState(TypedDict):
    """The cutter's own state (``state.json``): its lifetime sheet counter and the cut in the machine."""

    lifetime_sheets: int
    current: _CurrentCut | None


@dataclass
class _Active:
    """The cut in the machine: its ticket, its plan, and when it is done on the wall clock."""

    cut_id: str
    ticket: _CutTicket
    spec: CutSpec
    plan: CutPlan
    received: int
    message: str
    done_at: float


class SimulatedCutter:
    """Driver and device of one simulated cutter/stacker working in ``folder`` (see the module docstring)."""

    def __init__(
        self,
        name: str,
        folder: Path | str,
        sheets_per_minute: float = DEFAULT_SHEETS_PER_MINUTE,
        time_scale: float = 1.0,
        *,
        faults: CutFaults = NO_CUT_FAULTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not sheets_per_minute > 0 or not time_scale >= 0:
            raise ValueError("sheets_per_minute > 0 and time_scale >= 0 are required")
        self.name = name
        self.folder = Path(folder)
        self.sheets_per_minute = float(sheets_per_minute)
        self.time_scale = float(time_scale)
        self.faults = faults
        self._clock = clock
        self._active: _Active | None = None
        self._lock = threading.Lock()
        for sub in ("jobs", "output", "results"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._books = Books(self.folder, name)

    @property
    def wall_seconds_per_sheet(self) -> float:
        """Wall-clock seconds one press sheet takes: device time per sheet × time_scale."""
        return 60.0 / self.sheets_per_minute * self.time_scale

    # -- driver side -----------------------------------------------------------------------------------------
    def submit(self, job: CutJob) -> None:
        """Hand ``job`` to the cutter, once: DuplicateCut when it has a cut of that id already."""
        _check_cut_id(job.cut_id)
        if self._ticket(job.cut_id).exists() or self._result(job.cut_id).exists():
            raise DuplicateCut(self.name, job.cut_id)
        ticket: _CutTicket = {
            "cut_id": job.cut_id,
            "job_id": job.job_id,
            "sheets_pdf": str(Path(job.sheets_pdf).resolve()),
            "spec": json.loads(job.spec.to_json()),
            "submitted_ns": time.time_ns(),
        }
        if not atomic_write(self._ticket(job.cut_id), json.dumps(ticket).encode(), exclusive=True):
            raise DuplicateCut(self.name, job.cut_id)
        log.info(
            "cut_received", cutter=self.name, cut=job.cut_id, job=job.job_id, sheets=job.spec.sheet_count
        )

    def find(self, cut_id: str) -> CutResult | None:
        """The cut's result, unfinished while it is in the machine, or None when this cutter never got it."""
        _check_cut_id(cut_id)
        if self._result(cut_id).exists():
            data = json.loads(self._result(cut_id).read_text())
            output = data["output_pdf"]
            return CutResult(
                cut_id,
                True,
                data["sheets_expected"],
                Path(output) if output else None,
                data["leaves"],
                data["sheets_received"],
                tuple(data["destroyed"]),
                tuple(data["misfed"]),
                data["message"],
            )
        if self._ticket(cut_id).exists():
            spec = CutSpec.from_json(json.dumps(json.loads(self._ticket(cut_id).read_text())["spec"]))
            return CutResult(cut_id, False, spec.sheet_count)
        return None

    def result(self, cut_id: str) -> CutResult:
        """The cut's result so far; UnknownCut when the cutter has no such cut."""
        found = self.find(cut_id)
        if found is None:
            raise UnknownCut(self.name, cut_id)
        return found

    # -- the cutter's own books ------------------------------------------------------------------------------
    def books(self, kind: str | None = None) -> list[Record]:
        """Every record of the cutter's books, oldest first (only ``kind``'s: cut, leaf, sheet); see the
        module docstring. :func:`printers.books.read_books` reads them without a cutter."""
        return self._books.records(kind)

    def leaf_counts(self, job_id: str | None = None) -> Counter[tuple[str, int, int]]:
        """How often each leaf came out, per (job, 1-based press sheet, slot): more than once is a leaf cut
        twice."""
        leaves = (r for r in self.books("leaf") if job_id is None or r.get("job") == job_id)
        return Counter(
            {
                (str(job), _int(sheet), _int(slot)): n
                for (job, sheet, slot), n in tally(leaves, "job", "sheet", "slot").items()
            }
        )

    # -- device side -----------------------------------------------------------------------------------------
    def step(self) -> int:
        """Do what is due by now on the device clock; return the cuts finished in this step.

        Starts the next submitted cut when idle and finishes it when its sheets have gone through at the rated
        speed, then goes on with the next cut in the time left over.
        """
        with self._lock:
            now, finished, start_at = self._clock(), 0, None
            while True:
                if self._active is None:
                    self._active = self._start_next(now if start_at is None else start_at)
                    if self._active is None:
                        return finished
                active = self._active
                if self.time_scale and active.done_at > now:
                    return finished
                self._finish(active)
                finished += 1
                start_at = active.done_at if self.time_scale else now
                self._active = None

    @property
    def busy(self) -> bool:
        """True while a cut is in the machine."""
        return self._active is not None

    @property
    def lifetime_sheets(self) -> int:
        """Press sheets this cutter has taken since it was new."""
        return self._state()["lifetime_sheets"]

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set (the device thread's body); a failing step is logged and retried."""
        while not stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("cutter_step_failed", cutter=self.name)
                stop.wait(FAILED_STEP_PAUSE_S)
            stop.wait(POLL_INTERVAL_S)

    def _start_next(self, now: float) -> _Active | None:
        pending = [p for p in (self.folder / "jobs").glob("*.json") if not self._result(p.stem).exists()]
        if not pending:
            return None
        tickets: list[_CutTicket] = sorted(
            (json.loads(p.read_text()) for p in pending),
            key=lambda t: (t.get("submitted_ns", 0), t["cut_id"]),
        )
        ticket = tickets[0]
        cut_id, spec = ticket["cut_id"], CutSpec.from_json(json.dumps(ticket["spec"]))
        received, message = _count_sheets(Path(ticket["sheets_pdf"]), spec.sides)
        current = self._state().get("current")
        restarted = current is not None and current["cut_id"] == cut_id
        first = self._take_lifetime(cut_id, received)
        self._books.append(
            "cut",
            event="restarted" if restarted else "started",
            cut=cut_id,
            job=ticket["job_id"],
            sheets=received,
            first_lifetime_sheet=first,
        )
        destroyed, misfed = self.faults.plan(cut_id, first, received)
        plan = cut_order(spec, received, destroyed, misfed)
        log.info(
            "cut_started",
            cutter=self.name,
            cut=cut_id,
            job=ticket["job_id"],
            sheets=received,
            first_lifetime_sheet=first,
        )
        return _Active(
            cut_id, ticket, spec, plan, received, message, now + received * self.wall_seconds_per_sheet
        )

    def _take_lifetime(self, cut_id: str, sheets: int) -> int:
        """Lifetime number of the cut's first sheet: the one recorded when this cut started before a restart,
        else the next free one (and the counter moves past the cut's sheets)."""
        state = self._state()
        current = state.get("current")
        if current is not None and current["cut_id"] == cut_id:
            return current["first"]
        first = state["lifetime_sheets"] + 1
        self._save_state(
            {"lifetime_sheets": first - 1 + sheets, "current": {"cut_id": cut_id, "first": first}}
        )
        return first

    def _finish(self, active: _Active) -> None:
        output = self.folder / "output" / f"{active.cut_id}.pdf"
        source = Path(active.ticket["sheets_pdf"])
        atomic_write(output, write_leaves(source if active.received else None, active.spec, active.plan))
        destroyed = [s + 1 for s in active.plan.destroyed]
        misfed = [s + 1 for s in active.plan.misfed]
        message = active.message or _message(active, destroyed, misfed)
        job_id = active.ticket["job_id"]
        for n, (sheet, slot) in enumerate(active.plan.leaves, start=1):
            self._books.append("leaf", cut=active.cut_id, job=job_id, sheet=sheet + 1, slot=slot, n=n)
        for outcome, sheets in (("destroyed", destroyed), ("misfed", misfed)):
            for sheet in sheets:
                self._books.append("sheet", cut=active.cut_id, job=job_id, sheet=sheet, outcome=outcome)
        self._books.append(
            "cut",
            event="finished",
            cut=active.cut_id,
            job=job_id,
            leaves=len(active.plan.leaves),
            output=str(output.relative_to(self.folder)),
        )
        result = {
            "cut_id": active.cut_id,
            "job_id": active.ticket["job_id"],
            "output_pdf": str(output.resolve()),
            "leaves": len(active.plan.leaves),
            "sheets_expected": active.spec.sheet_count,
            "sheets_received": active.received,
            "destroyed": destroyed,
            "misfed": misfed,
            "message": message,
            "finished_at": time.time(),
        }
        atomic_write(self._result(active.cut_id), json.dumps(result).encode())
        self._save_state({"lifetime_sheets": self._state()["lifetime_sheets"], "current": None})
        if destroyed or misfed:
            log.warning(
                "cut_faulted", cutter=self.name, cut=active.cut_id, destroyed=destroyed, misfed=misfed
            )
        log.info(
            "cut_finished",
            cutter=self.name,
            cut=active.cut_id,
            leaves=len(active.plan.leaves),
            message=message,
        )

    def _state(self) -> _CutterState:
        path = self.folder / "state.json"
        state: _CutterState = (
            json.loads(path.read_text()) if path.exists() else {"lifetime_sheets": 0, "current": None}
        )
        return state

    def _save_state(self, state: _CutterState) -> None:
        atomic_write(self.folder / "state.json", json.dumps(state).encode())

    def _ticket(self, cut_id: str) -> Path:
        return self.folder / "jobs" / f"{cut_id}.json"

    def _result(self, cut_id: str) -> Path:
        return self.folder / "results" / f"{cut_id}.json"


def write_leaves(sheets_pdf: Path | None, spec: CutSpec, plan: CutPlan) -> bytes:
    """The PDF of the leaves that came out: per leaf of ``plan``, its front cut from the sheet's front page
    and, in duplex work, its back cut from behind it on the sheet's back page, upright. Empty when
    ``sheets_pdf`` is None (nothing could be fed)."""
    buffer = io.BytesIO()
    with pikepdf.new() as out:
        if sheets_pdf is not None:
            with pikepdf.open(sheets_pdf) as source:
                forms: dict[int, pikepdf.Object] = {}

                def form(page: int) -> pikepdf.Object:
                    if page not in forms:
                        forms[page] = out.copy_foreign(source.pages[page].as_form_xobject())
                    return forms[page]

                for sheet, slot in plan.leaves:
                    _add_leaf(out, form(sheet * spec.sides), spec.sheet, spec.leaves[slot], turned=False)
                    if spec.sides == 2:
                        _add_leaf(
                            out,
                            form(sheet * 2 + 1),
                            spec.sheet,
                            spec.back_rect(slot),
                            turned=spec.backs is Backs.TUMBLE,
                        )
                out.save(buffer)
        else:
            out.save(buffer)
    return buffer.getvalue()


def _add_leaf(
    out: pikepdf.Pdf,
    form: pikepdf.Object,
    sheet: tuple[float, float],
    rect: tuple[float, float, float, float],
    turned: bool,
) -> None:
    """Append a page the size of ``rect`` showing that part of the sheet side ``form`` (turned 180°
    upright)."""
    x, y, w, h = rect
    x0, y0 = x, sheet[1] - y - h
    matrix = (-1, 0, 0, -1, x0 + w, y0 + h) if turned else (1, 0, 0, 1, -x0, -y0)
    content = f"q {' '.join(f'{v:.4f}' for v in matrix)} cm {_SHEET_FORM} Do Q".encode()
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, w, h],
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary({_SHEET_FORM: form})),
        Contents=out.make_stream(content),
    )
    out.pages.append(pikepdf.Page(page))


def _count_sheets(sheets_pdf: Path, sides: int) -> tuple[int, str]:
    """Press sheets in the printed file (whole sheets only), and a message when it cannot be fed at all."""
    try:
        with pikepdf.open(sheets_pdf) as pdf:
            return len(pdf.pages) // sides, ""
    except (pikepdf.PdfError, OSError) as exc:
        return 0, f"the printed sheets {sheets_pdf} cannot be fed ({exc}); nothing was cut"


def _message(active: _Active, destroyed: list[int], misfed: list[int]) -> str:
    parts = [f"{len(active.plan.leaves)} leaves from {active.received} of {active.spec.sheet_count} sheets"]
    if destroyed:
        parts.append(f"destroyed in a misfeed: sheet {', '.join(map(str, destroyed))}")
    if misfed:
        parts.append(f"out of sequence after a misfeed: sheet {', '.join(map(str, misfed))}")
    return "; ".join(parts)


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _check_cut_id(cut_id: str) -> None:
    if not isinstance(cut_id, str) or not CUT_ID_PATTERN.fullmatch(cut_id):
        raise BadCutId(str(cut_id))
