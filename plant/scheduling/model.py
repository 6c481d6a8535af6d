"""The scheduler's data: devices, jobs, pins, the plan, the reference duration conventions and the JSON
format.

Everything here is a frozen dataclass of plain values so the algorithm can stay pure (data in, data out) and
so an instance or a plan can travel as JSON (``plant plan INSTANCE.json > PLAN.json``). Times are whole
seconds from the plan's origin (the instance's "now" is 0 unless a re-plan says otherwise).

Reference conventions (issue 6), used by the planner and, independently re-derived, by the checker:

* print time  = ⌈60 · pieces · sheets_per_piece / sheets_per_min⌉ s
* insert time = ⌈3600 · pieces / envelopes_per_hour⌉ s
* a job is inserted only by an inserter whose ``max_sheets`` ≥ the job's ``sheets_per_piece``
* insertion starts after printing ends; a job is late when its insertion ends after ``due_s``.

Extensions (all optional, with defaults that leave the reference model unchanged):

* a press prints a job only if it can run the job's ``stock`` (``stocks`` None: any), does duplex / colour
  when the job needs it, and takes its ``sheet_size`` (``sheet_sizes`` None: any); see :func:`can_print`;
* a press pays ``setup_s`` seconds between two consecutive jobs of different stocks, and before its first job
  when that job's stock differs from the ``loaded_stock`` (None: the first job needs no setup);
* an inserter takes a job only if it has the job's ``envelope`` (``envelopes`` None: any) and its ``feeders``
  hold the job's ``inserts`` (one feeder per insert; see :func:`can_insert`);
* an inserter pays ``setup_s`` seconds before a run whose envelope or inserts differ from what it is set up
  for (see :func:`insert_setup_needed`): a job that names no envelope runs in the one loaded, a job without
  inserts leaves the feeders as they are.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from fractions import Fraction
from typing import Any

from plant.scheduling.errors import ScheduleError

#: Version of the JSON exchange format written into every PLAN.json.
FORMAT_VERSION = 1
#: The stock of a job that names none.
DEFAULT_STOCK = "plain"


@dataclass(frozen=True, slots=True)
class Printer:
    """A press: its speed, the second from which it can take a new job, and whether it works at all.

    A press that is down (jammed, stopped) takes no new work; pinned work may still name it. ``stocks`` are
    the stocks it can run (None: any), ``sheet_sizes`` the sizes it takes (None: any); ``setup_s`` is paid on
    every change of stock, and before the first job when ``loaded_stock`` is set and differs from the job's.
    """

    id: str
    sheets_per_min: float
    available_s: int = 0
    up: bool = True
    stocks: tuple[str, ...] | None = None
    duplex: bool = True
    colour: bool = True
    sheet_sizes: tuple[str, ...] | None = None
    setup_s: int = 0
    loaded_stock: str | None = None


@dataclass(frozen=True, slots=True)
class Inserter:
    """An inserter: its speed, the most sheets one envelope takes, when it can take a new run, whether it
    works.

    ``envelopes`` are the envelope sizes it runs (None: any); ``feeders`` what its feeders hold, one insert
    each. ``setup_s`` is paid before a run that needs another envelope or another set of inserts than the
    inserter is set up for; ``loaded_envelope`` / ``loaded_inserts`` are what it is set up for before its
    first run (None: not known, the first run that names one needs no setup; ``loaded_inserts`` ``()``: no
    feeder is set up).
    """

    id: str
    envelopes_per_hour: float
    max_sheets: int
    available_s: int = 0
    up: bool = True
    envelopes: tuple[str, ...] | None = None
    feeders: tuple[str, ...] = ()
    setup_s: int = 0
    loaded_envelope: str | None = None
    loaded_inserts: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Needs:
    """What a job of pieces, or one piece, needs of the devices: the attributes that must match a press and an
    inserter. The paper ``stock``, whether it needs ``duplex`` or ``colour``, its ``sheet_size`` (None: any
    press), its ``envelope`` (None: any inserter) and the ``inserts`` (enclosures) an inserter's feeders must
    hold.

    :class:`Job`, :class:`~plant.scheduling.work.Piece` and :class:`~plant.scheduling.work.FormedJob` are
    Needs with fields of their own in front: their constructors take these last, by position or by keyword.
    (A base only: it stores nothing itself.)
    """

    __slots__ = ()

    stock: str = DEFAULT_STOCK
    duplex: bool = False
    colour: bool = False
    sheet_size: str | None = None
    envelope: str | None = None
    inserts: tuple[str, ...] = ()

    def needs(self) -> tuple[Any, ...]:
        """These attributes' values in their order, the inserts sorted: equal for any two that can share a job
        (``dict(zip(NEEDS, needs))`` gives them by name again)."""
        return tuple(tuple(sorted(v)) if k == "inserts" else v for k, v in self.by_name().items())

    def by_name(self) -> dict[str, Any]:
        """These attributes by name (keyword arguments for a Job, Piece or FormedJob that needs the same)."""
        return {name: getattr(self, name) for name in NEEDS}


@dataclass(frozen=True)
class _JobOwn:
    """The fields of a :class:`Job` before its :class:`Needs` (a dataclass takes its bases' fields last base
    first, so ``Job(_JobOwn fields…, Needs fields…)``)."""

    __slots__ = ()

    id: str
    pieces: int
    sheets_per_piece: int
    due_s: int
    ready_s: int = 0
    reprint: bool = False


@dataclass(frozen=True, slots=True)
class Job(Needs, _JobOwn):
    """A print job of identical pieces: printed whole on one press, then inserted whole by one inserter.

    ``ready_s`` is the earliest print start (its files are imposed by then); ``reprint`` marks spoiled work
    that goes first when there is a choice. The rest is what must match a device (:class:`Needs`): ``Job(id,
    pieces, sheets_per_piece, due_s, ready_s, reprint, stock, duplex, colour, sheet_size, envelope,
    inserts)``.
    """


#: The names of the :class:`Needs` attributes, in their order, with their defaults.
NEEDS: dict[str, Any] = {f.name: f.default for f in fields(Needs)}


@dataclass(frozen=True, slots=True)
class Pin:
    """A part of a job that is already under way and must stay where it is (a re-plan's running work).

    The print is always pinned; the insert is pinned too when it has started, else the planner chooses it.
    """

    job: str
    printer: str
    print_start_s: int
    print_end_s: int
    inserter: str | None = None
    insert_start_s: int | None = None
    insert_end_s: int | None = None


@dataclass(frozen=True, slots=True)
class Instance:
    """What to plan: the devices that work, the jobs, and the pins of work already running."""

    printers: tuple[Printer, ...]
    inserters: tuple[Inserter, ...]
    jobs: tuple[Job, ...]
    pins: tuple[Pin, ...] = ()

    def __post_init__(self) -> None:
        validate(self)

    def job(self, job_id: str) -> Job:
        """The job named ``job_id``."""
        return self._jobs_by_id()[job_id]

    def _jobs_by_id(self) -> dict[str, Job]:
        return {j.id: j for j in self.jobs}


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where and when one job is printed and inserted."""

    job: str
    printer: str
    print_start_s: int
    print_end_s: int
    inserter: str
    insert_start_s: int
    insert_end_s: int


@dataclass(frozen=True, slots=True)
class Manual:
    """A job the machines cannot take, sent to the flat or manual path, with the reason in words."""

    job: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The planner's answer: one assignment per machine job, the manual ones, and how good it is.

    ``lower_bound_s`` is a proven lower bound on any plan's makespan for the same jobs, so
    :attr:`gap_percent` is an honest distance from optimal (an upper bound on it). ``on_time_bound_s`` bounds
    the makespan of plans without late jobs (the objective's first rule), so it is the fairer yardstick when
    ``late_jobs`` is empty.
    """

    assignments: tuple[Assignment, ...]
    makespan_s: int
    late_jobs: tuple[str, ...]
    lower_bound_s: int
    manual: tuple[Manual, ...] = ()
    on_time_bound_s: int = 0
    setups: int = 0

    @property
    def gap_percent(self) -> float:
        """How far the makespan is above the lower bound, in percent of the bound."""
        if self.lower_bound_s <= 0:
            return 0.0
        return 100.0 * (self.makespan_s - self.lower_bound_s) / self.lower_bound_s

    def by_job(self) -> dict[str, Assignment]:
        """The assignments keyed by job id."""
        return {a.job: a for a in self.assignments}


# --------------------------------------------------------------------------------------------- conventions


def print_seconds(pieces: int, sheets_per_piece: int, sheets_per_min: float) -> int:
    """Reference print time in whole seconds (rounded up, computed exactly, also for float speeds)."""
    if type(sheets_per_min) is int:
        return -(-60 * pieces * sheets_per_piece // sheets_per_min)
    return math.ceil(Fraction(60 * pieces * sheets_per_piece) / Fraction(sheets_per_min))


def insert_seconds(pieces: int, envelopes_per_hour: float) -> int:
    """Reference insert time in whole seconds (rounded up, computed exactly)."""
    if type(envelopes_per_hour) is int:
        return -(-3600 * pieces // envelopes_per_hour)
    return math.ceil(Fraction(3600 * pieces) / Fraction(envelopes_per_hour))


def can_insert(job: Job, inserter: Inserter) -> bool:
    """Whether ``inserter`` can envelope ``job``'s pieces now: it is up, its ``max_sheets`` covers them, it
    runs the job's envelope, and its feeders hold the job's inserts (one feeder per insert)."""
    if not inserter.up or inserter.max_sheets < job.sheets_per_piece:
        return False
    if job.envelope is not None and inserter.envelopes is not None and job.envelope not in inserter.envelopes:
        return False
    return not job.inserts or not (Counter(job.inserts) - Counter(inserter.feeders))


def insert_setup_needed(job: Job, envelope: str | None, inserts: tuple[str, ...] | None) -> bool:
    """Whether an inserter set up for ``envelope`` and ``inserts`` (None: not known) needs a setup before
    ``job``: the job names another envelope, or needs another set of inserts (a job without any needs
    none)."""
    return (job.envelope is not None and envelope is not None and job.envelope != envelope) or (
        bool(job.inserts) and inserts is not None and sorted(job.inserts) != sorted(inserts)
    )


def insert_setup_after(
    job: Job, envelope: str | None, inserts: tuple[str, ...] | None
) -> tuple[str | None, tuple[str, ...] | None]:
    """What an inserter set up for ``envelope`` and ``inserts`` is set up for after running ``job``."""
    return (
        envelope if job.envelope is None else job.envelope,
        tuple(sorted(job.inserts)) if job.inserts else inserts,
    )


def can_print(job: Job, printer: Printer) -> bool:
    """Whether ``printer`` is able to print ``job`` (its stock, duplex, colour and sheet size; not whether it
    is up)."""
    return (
        (printer.stocks is None or job.stock in printer.stocks)
        and (printer.duplex or not job.duplex)
        and (printer.colour or not job.colour)
        and (job.sheet_size is None or printer.sheet_sizes is None or job.sheet_size in printer.sheet_sizes)
    )


def manual_reason(job: Job, instance: Instance, pin: Pin | None = None) -> str | None:
    """Why ``job`` (pinned by ``pin``, if at all) goes to the flat or manual path; None when the machines take
    it.

    A job goes manual when no working inserter can take it (unless its insert is already running), or when it
    has not started printing and no working press can print it.
    """
    if (pin is None or pin.inserter is None) and not any(can_insert(job, k) for k in instance.inserters):
        working = [k for k in instance.inserters if k.up]
        if not working:
            return "no inserter is working; envelope by hand or re-plan when an inserter is back"
        widest = max(k.max_sheets for k in working)
        if job.sheets_per_piece > widest:
            return (
                f"{job.sheets_per_piece} sheets per piece, but the most any working inserter takes is "
                f"{widest}; send it to the flat (large-envelope) or manual line"
            )
        return (
            f"no working inserter takes {job.sheets_per_piece} sheets in envelope {job.envelope!r} with "
            f"feeders holding {list(job.inserts)}; envelope it on the manual line or load a feeder and "
            "re-plan"
        )
    return print_reason(job, instance) if pin is None else None


def print_reason(job: Job, instance: Instance) -> str | None:
    """Why no working press can print ``job`` (None when one can, or when no press is up at all)."""
    working = [p for p in instance.printers if p.up]
    if not working or any(can_print(job, p) for p in working):
        return None
    needs = (
        [f"stock {job.stock!r}"]
        + (["duplex"] if job.duplex else [])
        + (["colour"] if job.colour else [])
        + ([f"sheet size {job.sheet_size!r}"] if job.sheet_size is not None else [])
    )
    return (
        f"no working press can print {', '.join(needs)}; print it elsewhere or re-plan when such a press is "
        "up"
    )


# ---------------------------------------------------------------------------------------------- validation


def _int(field_name: str, value: object, minimum: int | None = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        raise ScheduleError(
            field_name, value, "a whole number" + (f" ≥ {minimum}" if minimum is not None else "")
        )


def _rate(field_name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ScheduleError(field_name, value, "a finite number > 0")


def _name(field_name: str, value: object, optional: bool = False) -> None:
    if not (optional and value is None) and (not isinstance(value, str) or not value):
        raise ScheduleError(field_name, value, "a non-empty string" + (" or null" if optional else ""))


def _names(field_name: str, value: object, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
        raise ScheduleError(
            field_name, value, "a list of non-empty strings" + (" or null" if optional else "")
        )


def _unique(kind: str, ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if not isinstance(i, str) or not i:
            raise ScheduleError(f"{kind}.id", i, "a non-empty string")
        if i in seen:
            raise ScheduleError(f"{kind}.id", i, "each id once")
        seen.add(i)


def validate(instance: Instance) -> None:
    """Raise :class:`ScheduleError` naming the first field that is not allowed."""
    if not instance.printers:
        raise ScheduleError("printers", [], "at least one printer")
    _unique("printers", (p.id for p in instance.printers))
    _unique("inserters", (k.id for k in instance.inserters))
    _unique("jobs", (j.id for j in instance.jobs))
    for p in instance.printers:
        _rate(f"printers[{p.id}].sheets_per_min", p.sheets_per_min)
        _int(f"printers[{p.id}].available_s", p.available_s)
        _int(f"printers[{p.id}].setup_s", p.setup_s)
        _names(f"printers[{p.id}].stocks", p.stocks, optional=True)
        _names(f"printers[{p.id}].sheet_sizes", p.sheet_sizes, optional=True)
        _name(f"printers[{p.id}].loaded_stock", p.loaded_stock, optional=True)
    for k in instance.inserters:
        _rate(f"inserters[{k.id}].envelopes_per_hour", k.envelopes_per_hour)
        _int(f"inserters[{k.id}].max_sheets", k.max_sheets, 1)
        _int(f"inserters[{k.id}].available_s", k.available_s)
        _names(f"inserters[{k.id}].envelopes", k.envelopes, optional=True)
        _names(f"inserters[{k.id}].feeders", k.feeders)
        _int(f"inserters[{k.id}].setup_s", k.setup_s)
        _name(f"inserters[{k.id}].loaded_envelope", k.loaded_envelope, optional=True)
        _names(f"inserters[{k.id}].loaded_inserts", k.loaded_inserts, optional=True)
    for j in instance.jobs:
        _int(f"jobs[{j.id}].pieces", j.pieces, 1)
        _int(f"jobs[{j.id}].sheets_per_piece", j.sheets_per_piece, 1)
        _int(f"jobs[{j.id}].due_s", j.due_s, None)
        _int(f"jobs[{j.id}].ready_s", j.ready_s)
        _name(f"jobs[{j.id}].stock", j.stock)
        _name(f"jobs[{j.id}].sheet_size", j.sheet_size, optional=True)
        _name(f"jobs[{j.id}].envelope", j.envelope, optional=True)
        _names(f"jobs[{j.id}].inserts", j.inserts)
    _validate_pins(instance)


def _validate_pins(instance: Instance) -> None:
    jobs = {j.id for j in instance.jobs}
    printers = {p.id for p in instance.printers}
    inserters = {k.id for k in instance.inserters}
    seen: set[str] = set()
    for pin in instance.pins:
        if pin.job not in jobs or pin.job in seen:
            raise ScheduleError("pins.job", pin.job, "the id of a job in jobs, pinned at most once")
        seen.add(pin.job)
        if pin.printer not in printers:
            raise ScheduleError(f"pins[{pin.job}].printer", pin.printer, "the id of a printer in printers")
        _int(f"pins[{pin.job}].print_start_s", pin.print_start_s)
        _int(f"pins[{pin.job}].print_end_s", pin.print_end_s, pin.print_start_s)
        if pin.inserter is not None:
            if pin.inserter not in inserters:
                raise ScheduleError(
                    f"pins[{pin.job}].inserter", pin.inserter, "the id of an inserter in inserters"
                )
            _int(f"pins[{pin.job}].insert_start_s", pin.insert_start_s, pin.print_end_s)
            _int(f"pins[{pin.job}].insert_end_s", pin.insert_end_s, pin.insert_start_s)


# --------------------------------------------------------------------------------------------- JSON format


def _get(obj: Mapping[str, Any], key: str, where: str, default: Any = ...) -> Any:
    if not isinstance(obj, Mapping):
        raise ScheduleError(where, obj, "a JSON object")
    if key in obj:
        return obj[key]
    if default is ...:
        raise ScheduleError(f"{where}.{key}", None, "a value (the field is required)")
    return default


def _from_json(cls: Any, obj: Mapping[str, Any], where: str) -> Any:
    """A ``cls`` (Printer, Inserter, Job, Pin) from its JSON object ``where``: its fields by name, in order,
    the ones without a default required; a ``bool`` field's value as a bool, a list for a ``tuple`` field as a
    tuple."""
    values = []
    for f in fields(cls):
        value = _get(obj, f.name, where, ... if f.default is MISSING else f.default)
        if f.type == "bool":
            value = bool(value)
        elif str(f.type).startswith("tuple"):
            value = tuple(value) if isinstance(value, list) else value
        values.append(value)
    return cls(*values)


def _optional(row: dict[str, Any], obj: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` plus the optional fields of ``obj`` whose value is not the default (lists for tuples)."""
    for key, default in defaults.items():
        value = getattr(obj, key)
        if value != default:
            row[key] = list(value) if isinstance(value, tuple) else value
    return row


_PRINTER_OPTIONAL = {
    "stocks": None,
    "duplex": True,
    "colour": True,
    "sheet_sizes": None,
    "setup_s": 0,
    "loaded_stock": None,
}
_INSERTER_OPTIONAL = {
    "envelopes": None,
    "feeders": (),
    "setup_s": 0,
    "loaded_envelope": None,
    "loaded_inserts": None,
}


def instance_from_json(data: Mapping[str, Any]) -> Instance:
    """Read the instance exchange format (see docs/scheduling.md); raise :class:`ScheduleError` when
    malformed."""

    def items(key: str) -> list[Any]:
        value = _get(data, key, "instance", [] if key == "pins" else ...)
        if not isinstance(value, list):
            raise ScheduleError(key, value, "a JSON array")
        return value

    printers = tuple(_from_json(Printer, p, "printers[]") for p in items("printers"))
    inserters = tuple(_from_json(Inserter, k, "inserters[]") for k in items("inserters"))
    jobs = tuple(_from_json(Job, j, "jobs[]") for j in items("jobs"))
    pins = tuple(_from_json(Pin, p, "pins[]") for p in items("pins"))
    return Instance(printers, inserters, jobs, pins)


def instance_to_json(instance: Instance) -> dict[str, Any]:
    """The instance in the exchange format (a plain dict ready for :func:`json.dumps`)."""

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if v is not None}

    return {
        "printers": [
            _optional(
                {"id": p.id, "sheets_per_min": p.sheets_per_min, "available_s": p.available_s, "up": p.up},
                p,
                _PRINTER_OPTIONAL,
            )
            for p in instance.printers
        ],
        "inserters": [
            _optional(
                {
                    "id": k.id,
                    "envelopes_per_hour": k.envelopes_per_hour,
                    "max_sheets": k.max_sheets,
                    "available_s": k.available_s,
                    "up": k.up,
                },
                k,
                _INSERTER_OPTIONAL,
            )
            for k in instance.inserters
        ],
        "jobs": [
            _optional(
                {
                    "id": j.id,
                    "pieces": j.pieces,
                    "sheets_per_piece": j.sheets_per_piece,
                    "due_s": j.due_s,
                    "ready_s": j.ready_s,
                    "reprint": j.reprint,
                },
                j,
                NEEDS,
            )
            for j in instance.jobs
        ],
        "pins": [
            strip(
                {
                    "job": p.job,
                    "printer": p.printer,
                    "print_start_s": p.print_start_s,
                    "print_end_s": p.print_end_s,
                    "inserter": p.inserter,
                    "insert_start_s": p.insert_start_s,
                    "insert_end_s": p.insert_end_s,
                }
            )
            for p in instance.pins
        ],
    }


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan in the exchange format: per job its devices and times, then makespan, late jobs, lower
    bound."""
    return {
        "version": FORMAT_VERSION,
        "makespan_s": plan.makespan_s,
        "lower_bound_s": plan.lower_bound_s,
        "on_time_bound_s": plan.on_time_bound_s,
        "gap_percent": round(plan.gap_percent, 4),
        "late_jobs": list(plan.late_jobs),
        "setups": plan.setups,
        "jobs": [
            {
                "id": a.job,
                "printer": a.printer,
                "print_start_s": a.print_start_s,
                "print_end_s": a.print_end_s,
                "inserter": a.inserter,
                "insert_start_s": a.insert_start_s,
                "insert_end_s": a.insert_end_s,
            }
            for a in plan.assignments
        ],
        "manual": [{"id": m.job, "reason": m.reason} for m in plan.manual],
    }


def plan_from_json(data: Mapping[str, Any]) -> Plan:
    """Read a PLAN.json back (for re-planning from a stored plan or checking one)."""
    rows = _get(data, "jobs", "plan")
    return Plan(
        assignments=tuple(
            Assignment(
                r["id"],
                r["printer"],
                r["print_start_s"],
                r["print_end_s"],
                r["inserter"],
                r["insert_start_s"],
                r["insert_end_s"],
            )
            for r in rows
        ),
        makespan_s=_get(data, "makespan_s", "plan"),
        late_jobs=tuple(_get(data, "late_jobs", "plan", [])),
        lower_bound_s=_get(data, "lower_bound_s", "plan", 0),
        manual=tuple(Manual(m["id"], m["reason"]) for m in _get(data, "manual", "plan", [])),
        on_time_bound_s=_get(data, "on_time_bound_s", "plan", 0),
        setups=_get(data, "setups", "plan", 0),
    )
