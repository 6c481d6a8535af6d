"""What the pages show, read from the ledger: plain, JSON-ready dicts that the HTML pages and the JSON API
both render, so the two never disagree.

Every function takes an open read connection (:meth:`plant.ledger.Ledger.read`) and writes nothing. A
submission's rows are its receipt rows (:func:`plant.ledger.reads.receipt_rows`, what ``plant receipts``
prints) and a piece's history is ``plant status``'s (:func:`plant.history.histories`); the queries here add
what only the pages need: counts by state, the jobs on each device, the pieces needing attention, output per
hour, the QA station's results, the devices' service state, and the figures of Prometheus ``/metrics``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypedDict

from sqlalchemy import ColumnElement, Connection, Integer, Row, and_, cast, func, or_, select

from plant.config import Settings
from plant.fleet.service import out_of_service
from plant.ledger import schema as t
from plant.ledger import schema_devices as td
from plant.ledger import schema_qa as tq
from plant.ledger.reads import histories, receipt_rows
from plant.model import Event, JobState, RunState, State
from plant.operator import OPERATOR
from printers.errors import remedy_for

#: Finished submissions the queue still lists under the unfinished ones, newest first.
RECENT_FINISHED = 10
#: Most letters a "needs attention" or "being reprinted" list shows (the count above it is exact).
ATTENTION_LIMIT = 200
#: Letters on one page of a submission (``?limit=`` may ask for fewer or, up to PAGE_MAX, more).
PAGE_SIZE = 500
#: Most letters one page of a submission shows.
PAGE_MAX = 5000
#: Hours the throughput dashboard looks back by default, and at most.
DEFAULT_HOURS, MAX_HOURS = 24, 24 * 7
#: Ids in one SQL ``IN (...)`` list.
CHUNK = 500

#: Every state in lifecycle order (the enum's order): the columns of the count tables.
STATES = tuple(s.value for s in State)
#: Every print-job state in lifecycle order: the job gauges of ``/metrics`` list each, zeros included.
JOB_STATES = tuple(s.value for s in JobState)
#: Job states in which a job still holds work on its printer: not yet sent, on its way, on the press, being
#: taken back, or printed and waiting for its insert run's reconciliation. REPLANNED, DONE, FAILED hold none.
ACTIVE_JOB_STATES = (
    JobState.PLANNED,
    JobState.IMPOSED,
    JobState.SPOOLING,
    JobState.SPOOLED,
    JobState.WITHDRAWING,
    JobState.PARKED,
    JobState.PRINTED,
)
#: The job device state of a job waiting on a stopped printer (what the spool stage's follower records).
STOPPED = "STOPPED"
#: The job event recording a change of the job's device state, with the printer's reasons in ``data.reasons``.
DEVICE_STATE_EVENT = "device_state"
#: States an operator has to look at: nothing in the plant moves these on by itself.
ATTENTION_STATES = (State.FAILED, State.UNACCOUNTED, State.SPOILED, State.HELD)
#: Work not yet done on paper: letters waiting for pre-flight, and print pieces before dispatch.
BACKLOG_STATES = (
    State.RECEIVED,
    State.PRINT_READY,
    State.PLANNED,
    State.IMPOSED,
    State.SPOOLED,
    State.PRINTED,
    State.INSERTED,
    State.SPOILED,
    State.HELD,
)
#: The dashboard's output columns (the counts of an hour's :class:`Bucket`).
Output = Literal["printed", "inserted", "dispatched"]
#: The dashboard's output columns and the letter event that counts for each. ``printed`` is the downstream
#: read of a piece's sheets (DESIGN: never the printer's word), so a piece read and then spoiled was printed.
OUTPUT_EVENTS: dict[Output, Event] = {
    "printed": Event.READ_DOWNSTREAM,
    "inserted": Event.INSERT,
    "dispatched": Event.DISPATCH,
}
#: States in which a piece printed before waits for its reprint (``prints`` ≥ 1 before it spools again).
_BEFORE_SPOOL = (State.PRINT_READY, State.PLANNED, State.IMPOSED)
#: States in which a piece printed at least twice is on its reprint.
_AFTER_SPOOL = (State.SPOOLED, State.PRINTED, State.INSERTED)


# -- what the pages get (JSON-ready dicts; the templates and the JSON API read the same keys) ----------------
class SubmissionLine(TypedDict):
    """A submission in the queue, with its letters counted by state."""

    submission_id: str
    received_at: str | None
    finished_at: str | None
    letters: int
    states: dict[str, int]


class JobLine(TypedDict):
    """A print job still holding work on its printer."""

    job_id: str
    submission_id: str
    state: str
    device_state: str | None
    pieces: int
    sheets: int | None
    inserter: str | None
    due_at: str | None


class _PrinterBase(TypedDict):
    name: str
    sheets_per_minute: float | None
    configured: bool


class PrinterLine(_PrinterBase):
    """A printer (configured, or named by an active job) with its active jobs and finished ones counted."""

    in_service: bool
    done: int
    replanned: int
    jobs: list[JobLine]


class RunLine(TypedDict):
    """An insert run not yet reconciled (pieces and sheets are its job's)."""

    run_id: str
    job_id: str
    state: str
    pieces: int | None
    sheets: int | None


class _InserterBase(TypedDict):
    name: str
    envelopes_per_hour: float | None
    configured: bool


class InserterLine(_InserterBase):
    """An inserter (configured, or named by an open run) with its open runs and reconciled ones counted."""

    in_service: bool
    reconciled: int
    runs: list[RunLine]


class DeviceService(TypedDict):
    """A configured device's service state (see :func:`devices`)."""

    name: str
    kind: str
    in_service: bool
    down_by: str | None
    down_reason: str | None
    down_operator: str | None
    down_since: str | None
    stopped: bool
    stopped_since: str | None
    stopped_jobs: list[str]
    stop_reasons: list[str]
    remedy: str | None


#: A hold as the pages show it (see :func:`held`); the functional form because ``from`` is a keyword.
Hold = TypedDict("Hold", {"by": str | None, "reason": str | None, "at": str | None, "from": str | None})


class LetterLine(TypedDict):
    """A letter in a list of letters needing attention."""

    submission_id: str
    letter_id: str
    name: str
    state: str
    tracking_id: str | None
    job_id: str | None
    code: str | None
    reason: str | None
    since: str | None
    held: Hold | None


class ReprintLine(LetterLine):
    """A letter on its reprint: how often it was printed, and why it was spoiled."""

    prints: int


class Attention(TypedDict):
    """Letters an operator has to look at: how many, and the latest of them."""

    count: int
    letters: list[LetterLine]


class Reprinting(TypedDict):
    """Pieces being reprinted: how many, and the latest of them."""

    count: int
    letters: list[ReprintLine]


class Overview(TypedDict):
    """The queue page."""

    at: str | None
    states: list[str]
    totals: dict[str, int]
    submissions: list[SubmissionLine]
    devices: list[DeviceService]
    printers: list[PrinterLine]
    inserters: list[InserterLine]
    attention: Attention
    reprinting: Reprinting


class SubmissionPage(TypedDict):
    """A submission's page: one page of its receipt rows, each with the letter's extras."""

    submission_id: str
    received_at: str | None
    finished_at: str | None
    letters: int
    states: dict[str, int]
    state: str | None
    offset: int
    limit: int
    matching: int
    rows: list[dict[str, Any]]


class LetterExtras(TypedDict):
    """What a page adds to a letter's receipt row or history."""

    name: str
    mail_class: str
    pages: int | None
    job_id: str | None
    run_id: str | None
    prints: int | None


class PiecePage(TypedDict):
    """A piece's page: every letter the id names, its history (``plant status``'s) with extras and hold."""

    identifier: str
    letters: list[dict[str, Any]]


class Bucket(TypedDict):
    """One hour of output: pieces printed, inserted and dispatched, and the pages printed."""

    hour: str | None
    printed: int
    inserted: int
    dispatched: int
    pages: int


class Backlog(TypedDict):
    """Letters not yet through production, by state, and the pieces and pages they make."""

    states: dict[str, int]
    pieces: int
    pages: int


class Throughput(TypedDict):
    """The throughput page."""

    at: str | None
    hours: int
    buckets: list[Bucket]
    totals: dict[str, int]
    pages_per_s_last_hour: float
    pages_per_s_while_printing: float | None
    backlog: Backlog


class QaCode(TypedDict):
    """A code read in a QA sample, as the QA page lists it."""

    kind: str | None
    text: str | None
    grade: str | None


class QaRow(TypedDict):
    """One QA result with the piece, letter and submission it names."""

    qa_id: int
    at: str | None
    image: str
    verdict: str
    grade: str | None
    min_grade: str
    tracking_id: str | None
    reasons: list[str]
    codes: list[QaCode]
    piece_id: int | None
    piece_tracking_id: str | None
    letter_id: str | None
    submission_id: str | None
    state: str | None


class QaPage(TypedDict):
    """The QA page."""

    at: str | None
    hours: int
    min_grade: str
    results: int
    passed: int
    failed: int
    pass_rate: float | None
    grades: dict[str, int]
    failures: list[QaRow]
    recent: list[QaRow]


class DeviceFigure(TypedDict):
    """Whether a configured device is in the plan, for ``/metrics``."""

    device: str
    kind: str
    in_service: bool


class Metrics(TypedDict):
    """What ``/metrics`` exposes (see :func:`metrics` and :mod:`plant.web.metrics`)."""

    letters: dict[str, int]
    jobs: dict[str, dict[str, int]]
    pieces: dict[str, int]
    qa_results: dict[str, int]
    qa_pass_ratio: float | None
    qa_window_hours: int
    devices: list[DeviceFigure]


class _DownEvent(Protocol):
    """A device's ``down`` event as :func:`_left_the_plan` reads it."""

    @property
    def at(self) -> float: ...
    @property
    def data(self) -> dict[str, Any] | None: ...


def iso(stamp: float | None) -> str | None:
    """A ledger time stamp as ISO 8601 in UTC (None stays None)."""
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


# -- the queue -----------------------------------------------------------------------------------------------
def overview(conn: Connection, settings: Settings, at: float) -> Overview:
    """The queue: letters by state per submission, jobs on each printer and inserter, what needs attention."""
    submissions = _listed_submissions(conn)
    counts = _counts_by_submission(conn, [s["submission_id"] for s in submissions])
    for submission in submissions:
        submission["states"] = counts.get(submission["submission_id"], {})
    totals: Counter[str] = Counter()
    for submission in submissions:
        totals.update(submission["states"])
    return {
        "at": iso(at),
        "states": [s for s in STATES if totals[s]],
        "totals": dict(totals),
        "submissions": submissions,
        "devices": devices(conn, settings),
        "printers": _printers(conn, settings),
        "inserters": _inserters(conn, settings),
        "attention": _attention(conn),
        "reprinting": _reprinting(conn),
    }


def _listed_submissions(conn: Connection) -> list[SubmissionLine]:
    s = t.submissions.c
    columns = (s.submission_id, s.received_at, s.finished_at, s.letters)
    open_ = conn.execute(select(*columns).where(s.finished_at.is_(None)).order_by(s.received_at)).all()
    recent = conn.execute(
        select(*columns)
        .where(s.finished_at.is_not(None))
        .order_by(s.received_at.desc())
        .limit(RECENT_FINISHED)
    ).all()
    return [
        {
            "submission_id": r.submission_id,
            "received_at": iso(r.received_at),
            "finished_at": iso(r.finished_at),
            "letters": r.letters,
            "states": {},  # counted by the caller
        }
        for r in [*open_, *recent]
    ]


def _counts_by_submission(conn: Connection, ids: list[str]) -> dict[str, dict[str, int]]:
    letters = t.letters.c
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for start in range(0, len(ids), CHUNK):
        rows = conn.execute(
            select(letters.submission_id, letters.state, func.count())
            .where(letters.submission_id.in_(ids[start : start + CHUNK]))
            .group_by(letters.submission_id, letters.state)
        ).all()
        for submission_id, state, count in rows:
            counts[submission_id][state] = count
    return counts


def _printers(conn: Connection, settings: Settings) -> list[PrinterLine]:
    jobs = t.print_jobs.c
    active = conn.execute(
        select(t.print_jobs).where(jobs.state.in_([s.value for s in ACTIVE_JOB_STATES])).order_by(jobs.number)
    ).all()
    finished: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for printer, state, count in conn.execute(
        select(jobs.printer, jobs.state, func.count())
        .where(jobs.state.in_([JobState.DONE.value, JobState.REPLANNED.value]))
        .group_by(jobs.printer, jobs.state)
    ):
        finished[printer][state] = count
    out = out_of_service(conn)
    devices: dict[str, _PrinterBase] = {
        p.name: {"name": p.name, "sheets_per_minute": p.sheets_per_minute, "configured": True}
        for p in settings.printers
    }
    for job in active:  # a job on a printer no longer configured still shows
        devices.setdefault(job.printer, {"name": job.printer, "sheets_per_minute": None, "configured": False})
    return [
        {
            **device,
            "in_service": name not in out,
            "done": finished[name][JobState.DONE.value],
            "replanned": finished[name][JobState.REPLANNED.value],
            "jobs": [
                {
                    "job_id": j.job_id,
                    "submission_id": j.submission_id,
                    "state": j.state,
                    "device_state": j.device_state,
                    "pieces": j.pieces,
                    "sheets": j.sheets,
                    "inserter": j.inserter,
                    "due_at": iso(j.due_at),
                }
                for j in active
                if j.printer == name
            ],
        }
        for name, device in devices.items()
    ]


def _inserters(conn: Connection, settings: Settings) -> list[InserterLine]:
    runs, jobs = t.insert_runs.c, t.print_jobs.c
    active = conn.execute(
        select(runs.run_id, runs.job_id, runs.inserter, runs.state, jobs.pieces, jobs.sheets)
        .select_from(t.insert_runs.outerjoin(t.print_jobs, jobs.job_id == runs.job_id))
        .where(runs.state != RunState.RECONCILED.value)
        .order_by(runs.number)
    ).all()
    reconciled: dict[str, int] = dict(
        conn.execute(
            select(runs.inserter, func.count())
            .where(runs.state == RunState.RECONCILED.value)
            .group_by(runs.inserter)
        ).all()
    )
    out = out_of_service(conn)
    devices: dict[str, _InserterBase] = {
        i.name: {"name": i.name, "envelopes_per_hour": i.envelopes_per_hour, "configured": True}
        for i in settings.inserters
    }
    for run in active:
        devices.setdefault(
            run.inserter, {"name": run.inserter, "envelopes_per_hour": None, "configured": False}
        )
    return [
        {
            **device,
            "in_service": name not in out,
            "reconciled": reconciled.get(name, 0),
            "runs": [
                {
                    "run_id": r.run_id,
                    "job_id": r.job_id,
                    "state": r.state,
                    "pieces": r.pieces,
                    "sheets": r.sheets,
                }
                for r in active
                if r.inserter == name
            ],
        }
        for name, device in devices.items()
    ]


# -- devices in and out of the plan --------------------------------------------------------------------------
def devices(conn: Connection, settings: Settings) -> list[DeviceService]:
    """Every configured printer and inserter with its service state (``plant device status``'s): in the plan,
    or out of it — taken down by the operator (with their reason) or by the plant (seen stopped by the sweeps
    longer than ``plan.replan_after_s``) — and since when; whether it is stopped now and since when; for a
    printer also the jobs waiting on it stopped, the printer's reasons recorded with them, and what to do
    about them."""
    rows = {r.name: r for r in conn.execute(select(td.device_service))}
    configured = _configured(settings)
    left = _left_the_plan(conn, [name for name, _ in configured if name in rows])
    stopped_jobs = _stopped_jobs(conn)
    return [
        _device(
            name,
            kind,
            rows.get(name),
            left.get(name),
            stopped_jobs.get(name, []),
            settings.plan.replan_after_s,
        )
        for name, kind in configured
    ]


def _configured(settings: Settings) -> list[tuple[str, str]]:
    """(name, kind) of every configured printer, then every inserter."""
    return [(p.name, "printer") for p in settings.printers] + [
        (i.name, "inserter") for i in settings.inserters
    ]


def _device(
    name: str,
    kind: str,
    row: Row[Any] | None,
    left: _DownEvent | None,
    stopped_jobs: list[tuple[str, list[str]]],
    replan_after_s: float,
) -> DeviceService:
    by: str | None = None
    reason: str | None = None
    since: float | None = None
    if row is not None and (row.operator_down or row.stopped_down):
        if row.operator_down:
            by, reason = "operator", row.reason
        else:
            by, reason = "plant", f"stopped longer than plan.replan_after_s ({replan_after_s:g} s)"
        # when it left the plan: its last `down` event (the row's time if the event is missing)
        since = left.at if left is not None else row.updated_at
    reasons = list(dict.fromkeys(r for _, job_reasons in stopped_jobs for r in job_reasons))
    stopped = bool(stopped_jobs) or (row is not None and row.stopped_since is not None)
    return {
        "name": name,
        "kind": kind,
        "in_service": by is None,
        "down_by": by,
        "down_reason": reason,
        # the signed-in operator who took it down from the pages (None from the command line: it names nobody)
        "down_operator": _operator_name(left) if by == "operator" else None,
        "down_since": iso(since),
        "stopped": stopped,
        "stopped_since": iso(row.stopped_since) if row is not None else None,
        "stopped_jobs": [job_id for job_id, _ in stopped_jobs],
        "stop_reasons": reasons,
        "remedy": remedy_for(reasons) if stopped and kind == "printer" else None,
    }


def _operator_name(event: _DownEvent | None) -> str | None:
    """The operator a device ``down`` event names (``data.by``), None when it names nobody in particular."""
    by = ((event.data if event is not None else None) or {}).get("by")
    return by if by and by != OPERATOR else None


def _left_the_plan(conn: Connection, names: list[str]) -> dict[str, _DownEvent]:
    """The last ``down`` event of each device named: when it last left the plan, and who took it out."""
    events = t.events.c
    if not names:
        return {}
    rows = conn.execute(
        select(events.entity_id, events.at, events.data)
        .where(events.entity == "device", events.entity_id.in_(names), events.event == "down")
        .order_by(events.id)
    ).all()
    return {row.entity_id: row for row in rows}


def _stopped_jobs(conn: Connection) -> dict[str, list[tuple[str, list[str]]]]:
    """Per printer, its active jobs waiting on it stopped, with the reasons recorded when they stopped."""
    jobs, events = t.print_jobs.c, t.events.c
    rows = conn.execute(
        select(jobs.printer, jobs.job_id)
        .where(jobs.state.in_([s.value for s in ACTIVE_JOB_STATES]), jobs.device_state == STOPPED)
        .order_by(jobs.number)
    ).all()
    reasons: dict[str, list[str]] = {}
    ids = [r.job_id for r in rows]
    for start in range(0, len(ids), CHUNK):
        for job_id, data in conn.execute(
            select(events.entity_id, events.data)
            .where(
                events.entity == "job",
                events.entity_id.in_(ids[start : start + CHUNK]),
                events.event == DEVICE_STATE_EVENT,
            )
            .order_by(events.id)
        ):
            reasons[job_id] = list((data or {}).get("reasons") or [])  # the last one counts
    found: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for row in rows:
        found[row.printer].append((row.job_id, reasons.get(row.job_id, [])))
    return found


def _letter_columns() -> tuple[ColumnElement[Any], ...]:
    letters, pieces = t.letters.c, t.pieces.c
    return (
        letters.pk,
        letters.submission_id,
        letters.letter_id,
        letters.name,
        letters.state,
        letters.reason_code,
        letters.reason,
        letters.updated_at,
        pieces.tracking_id,
        pieces.job_id,
        pieces.prints,
    )


def _letter_row(row: Row[Any]) -> LetterLine:
    return {
        "submission_id": row.submission_id,
        "letter_id": row.letter_id,
        "name": row.name,
        "state": row.state,
        "tracking_id": row.tracking_id,
        "job_id": row.job_id,
        "code": row.reason_code,
        "reason": row.reason,
        "since": iso(row.updated_at),
        "held": None,
    }


def _attention(conn: Connection) -> Attention:
    letters = t.letters.c
    where = letters.state.in_([s.value for s in ATTENTION_STATES])
    count = conn.execute(select(func.count()).select_from(t.letters).where(where)).scalar_one()
    rows = conn.execute(
        select(*_letter_columns())
        .select_from(t.letters.outerjoin(t.pieces, t.pieces.c.letter_pk == letters.pk))
        .where(where)
        .order_by(letters.updated_at.desc(), letters.pk)
        .limit(ATTENTION_LIMIT)
    ).all()
    holds = _last_holds(conn, [r.pk for r in rows if r.state == State.HELD.value])
    return {"count": count, "letters": [{**_letter_row(r), "held": holds.get(r.pk)} for r in rows]}


def _last_holds(conn: Connection, pks: list[int]) -> dict[int, Hold]:
    """Who held each letter, why, when and from which state: its last ``hold`` event."""
    events = t.events.c
    holds: dict[int, Hold] = {}
    for start in range(0, len(pks), CHUNK):
        rows = conn.execute(
            select(events.entity_id, events.at, events.from_state, events.data)
            .where(
                events.entity == "letter",
                events.entity_id.in_([str(p) for p in pks[start : start + CHUNK]]),
                events.event == Event.HOLD.value,
            )
            .order_by(events.id)
        ).all()
        for row in rows:
            holds[int(row.entity_id)] = held(iso(row.at), row.from_state, row.data)
    return holds


def held(at: str | None, from_state: str | None, data: dict[str, Any] | None) -> Hold:
    """What the pages show of a hold, from its event: by whom, why, when, and the state it was held from."""
    data = data or {}
    return {"by": data.get("by"), "reason": data.get("reason"), "at": at, "from": from_state}


def _reprinting(conn: Connection) -> Reprinting:
    """Pieces spoiled (outsorted by an inserter, lost in a press) and not yet dispatched on their reprint."""
    letters, pieces = t.letters.c, t.pieces.c
    where = or_(
        and_(pieces.prints >= 1, letters.state.in_([s.value for s in _BEFORE_SPOOL])),
        and_(pieces.prints >= 2, letters.state.in_([s.value for s in _AFTER_SPOOL])),
    )
    joined = t.letters.join(t.pieces, pieces.letter_pk == letters.pk)
    count = conn.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
    rows = conn.execute(
        select(*_letter_columns())
        .select_from(joined)
        .where(where)
        .order_by(letters.updated_at.desc(), letters.pk)
        .limit(ATTENTION_LIMIT)
    ).all()
    reasons = _last_spoil_reasons(conn, [r.pk for r in rows])
    return {
        "count": count,
        "letters": [{**_letter_row(r), "prints": r.prints, "reason": reasons.get(r.pk)} for r in rows],
    }


def _last_spoil_reasons(conn: Connection, pks: list[int]) -> dict[int, str | None]:
    events = t.events.c
    reasons: dict[int, str | None] = {}
    for start in range(0, len(pks), CHUNK):
        rows = conn.execute(
            select(events.entity_id, events.data)
            .where(
                events.entity == "letter",
                events.entity_id.in_([str(p) for p in pks[start : start + CHUNK]]),
                events.event == Event.SPOIL.value,
            )
            .order_by(events.id)
        ).all()
        for entity_id, data in rows:
            reasons[int(entity_id)] = (data or {}).get("reason")
    return reasons


# -- a submission and a piece --------------------------------------------------------------------------------
def submission(
    conn: Connection, submission_id: str, offset: int = 0, limit: int = PAGE_SIZE, state: State | None = None
) -> SubmissionPage | None:
    """A submission's receipt rows (a page, optionally of one state) with names and jobs; None if unknown."""
    s = t.submissions.c
    head = conn.execute(select(t.submissions).where(s.submission_id == submission_id)).first()
    if head is None:
        return None
    receipts = receipt_rows(conn, submission_id)
    counts = Counter(r["status"] for r in receipts)
    chosen = [r for r in receipts if state is None or r["status"] == state.value]
    page = chosen[offset : offset + limit]
    extra = _letter_extras(conn, submission_id, [r["letter_id"] for r in page])
    return {
        "submission_id": submission_id,
        "received_at": iso(head.received_at),
        "finished_at": iso(head.finished_at),
        "letters": len(receipts),
        "states": {s_: counts[s_] for s_ in STATES if counts[s_]},
        "state": state.value if state else None,
        "offset": offset,
        "limit": limit,
        "matching": len(chosen),
        "rows": [{**row, **extra.get(row["letter_id"], {})} for row in page],
    }


def _letter_extras(conn: Connection, submission_id: str, letter_ids: list[str]) -> dict[str, LetterExtras]:
    letters, pieces = t.letters.c, t.pieces.c
    extras: dict[str, LetterExtras] = {}
    for start in range(0, len(letter_ids), CHUNK):
        rows = conn.execute(
            select(
                letters.letter_id,
                letters.name,
                letters.mail_class,
                letters.pages,
                pieces.job_id,
                pieces.run_id,
                pieces.prints,
            )
            .select_from(t.letters.outerjoin(t.pieces, pieces.letter_pk == letters.pk))
            .where(
                letters.submission_id == submission_id,
                letters.letter_id.in_(letter_ids[start : start + CHUNK]),
            )
        ).all()
        extras.update(
            {
                r.letter_id: {
                    "name": r.name,
                    "mail_class": r.mail_class,
                    "pages": r.pages,
                    "job_id": r.job_id,
                    "run_id": r.run_id,
                    "prints": r.prints,
                }
                for r in rows
            }
        )
    return extras


def piece(conn: Connection, identifier: str) -> PiecePage | None:
    """Every letter whose letter id or tracking id is ``identifier`` with its events (``plant status``) and,
    when it is held, its hold (:func:`held`); None if none."""
    found = histories(conn, identifier)
    if not found:
        return None
    for letter in found:
        letter.update(
            _letter_extras(conn, letter["submission_id"], [letter["letter_id"]])[letter["letter_id"]]
        )
        holds = [e for e in letter["events"] if e["event"] == Event.HOLD.value]
        letter["held"] = (
            held(holds[-1]["at"], holds[-1]["from_state"], holds[-1]["data"])
            if holds and letter["state"] == State.HELD.value
            else None
        )
    return {"identifier": identifier, "letters": found}


# -- throughput ----------------------------------------------------------------------------------------------
def throughput(conn: Connection, at: float, hours: int = DEFAULT_HOURS) -> Throughput:
    """Pieces printed, inserted and dispatched per hour over the last ``hours`` (UTC hours, the current one
    last), pages per second, and the backlog now."""
    first_hour = math.floor(at / 3600) - hours + 1
    events, letters = t.events.c, t.letters.c
    hour = func.floor(events.at / 3600)
    joined = t.events.join(t.letters, letters.pk == cast(events.entity_id, Integer))
    output = [e.value for e in OUTPUT_EVENTS.values()]
    rows = conn.execute(
        select(events.event, hour, func.count(), func.coalesce(func.sum(letters.pages), 0))
        .select_from(joined)
        .where(events.entity == "letter", events.event.in_(output), events.at >= first_hour * 3600)
        .group_by(events.event, hour)
    ).all()
    printed = Event.READ_DOWNSTREAM.value
    span = conn.execute(
        select(func.min(events.at), func.max(events.at)).where(
            events.entity == "letter", events.event == printed, events.at >= first_hour * 3600
        )
    ).one()
    last_hour_pages = conn.execute(
        select(func.coalesce(func.sum(letters.pages), 0))
        .select_from(joined)
        .where(events.entity == "letter", events.event == printed, events.at >= at - 3600)
    ).scalar_one()
    buckets = hourly([(e, int(h), n, int(p)) for e, h, n, p in rows], first_hour, hours)
    pages = sum(b["pages"] for b in buckets)
    counted: tuple[Literal["printed", "inserted", "dispatched", "pages"], ...] = (*OUTPUT_EVENTS, "pages")
    return {
        "at": iso(at),
        "hours": hours,
        "buckets": buckets,
        "totals": {name: sum(b[name] for b in buckets) for name in counted},
        "pages_per_s_last_hour": round(last_hour_pages / 3600, 3),
        "pages_per_s_while_printing": pages_per_second(pages, span[0], span[1]),
        "backlog": backlog(conn),
    }


def hourly(rows: list[tuple[str, int, int, int]], first_hour: int, hours: int) -> list[Bucket]:
    """Buckets of ``hours`` consecutive hours from ``first_hour`` (hours since the epoch), filled from rows of
    (event, hour, pieces, pages); pages count printed pieces only. Rows outside the window are left out."""
    names = {event.value: name for name, event in OUTPUT_EVENTS.items()}
    buckets: list[Bucket] = [
        {"hour": iso(h * 3600), "printed": 0, "inserted": 0, "dispatched": 0, "pages": 0}
        for h in range(first_hour, first_hour + hours)
    ]
    for event, hour, pieces, pages in rows:
        index = hour - first_hour
        if 0 <= index < hours and event in names:
            buckets[index][names[event]] += pieces
            if names[event] == "printed":
                buckets[index]["pages"] += pages
    return buckets


def pages_per_second(pages: int, first: float | None, last: float | None) -> float | None:
    """Pages over the time from the first to the last print in the window; None when that time is zero."""
    if first is None or last is None or last <= first:
        return None
    return round(pages / (last - first), 3)


def backlog(conn: Connection) -> Backlog:
    """Letters and pages not yet through production, by state."""
    letters = t.letters.c
    rows = conn.execute(
        select(letters.state, func.count(), func.coalesce(func.sum(letters.pages), 0))
        .where(letters.state.in_([s.value for s in BACKLOG_STATES]))
        .group_by(letters.state)
    ).all()
    by_state = {state: (count, int(pages)) for state, count, pages in rows}
    ordered = [s.value for s in BACKLOG_STATES if s.value in by_state]
    return {
        "states": {s: by_state[s][0] for s in ordered},
        "pieces": sum(c for c, _ in by_state.values()),
        "pages": sum(p for _, p in by_state.values()),
    }


# -- the QA station ------------------------------------------------------------------------------------------
#: Hours the QA page looks back by default, and at most.
QA_DEFAULT_HOURS, QA_MAX_HOURS = 24, 24 * 31
#: Most results the QA page lists as the latest, and most failures it lists (the counts above them are exact).
QA_RECENT, QA_FAILURES = 50, 200
#: The grades of the distribution, best first; ``none`` counts samples in which no DataMatrix was read.
QA_GRADES = ("A", "B", "C", "D", "F", "none")


def qa(conn: Connection, settings: Settings, at: float, hours: int = QA_DEFAULT_HOURS) -> QaPage:
    """The QA station's results over the last ``hours``: pass rate, grade distribution, failures with their
    reasons, and the latest results."""
    results = tq.qa_results.c
    where = results.at >= at - hours * 3600
    verdicts: dict[str, int] = dict(
        conn.execute(select(results.verdict, func.count()).where(where).group_by(results.verdict)).all()
    )
    grades = Counter(
        {
            grade or "none": n
            for grade, n in conn.execute(
                select(results.grade, func.count()).where(where).group_by(results.grade)
            ).all()
        }
    )
    total, passed = sum(verdicts.values()), verdicts.get("pass", 0)
    return {
        "at": iso(at),
        "hours": hours,
        "min_grade": settings.qa.min_grade.value,
        "results": total,
        "passed": passed,
        "failed": total - passed,
        "pass_rate": round(passed / total, 4) if total else None,
        "grades": {grade: grades[grade] for grade in QA_GRADES},
        "failures": _qa_rows(conn, and_(where, results.verdict == "fail"), QA_FAILURES),
        "recent": _qa_rows(conn, where, QA_RECENT),
    }


def _qa_rows(conn: Connection, where: ColumnElement[bool], limit: int) -> list[QaRow]:
    results, pieces, letters = tq.qa_results.c, t.pieces.c, t.letters.c
    rows = conn.execute(
        select(
            results.qa_id,
            results.at,
            results.image,
            results.verdict,
            results.grade,
            results.min_grade,
            results.tracking_id,
            results.reasons,
            results.codes,
            results.piece_id,
            pieces.tracking_id.label("piece_tracking_id"),
            letters.letter_id,
            letters.submission_id,
            letters.state,
        )
        .select_from(
            tq.qa_results.outerjoin(t.pieces, pieces.piece_id == results.piece_id).outerjoin(
                t.letters, letters.pk == pieces.letter_pk
            )
        )
        .where(where)
        .order_by(results.at.desc(), results.qa_id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "qa_id": r.qa_id,
            "at": iso(r.at),
            "image": r.image,
            "verdict": r.verdict,
            "grade": r.grade,
            "min_grade": r.min_grade,
            "tracking_id": r.tracking_id,
            "reasons": r.reasons or [],
            "codes": [
                {"kind": c.get("kind"), "text": c.get("text"), "grade": c.get("grade")} for c in r.codes or []
            ],
            "piece_id": r.piece_id,
            "piece_tracking_id": r.piece_tracking_id,
            "letter_id": r.letter_id,
            "submission_id": r.submission_id,
            "state": r.state,
        }
        for r in rows
    ]


# -- Prometheus ----------------------------------------------------------------------------------------------
def metrics(conn: Connection, settings: Settings, at: float) -> Metrics:
    """What ``/metrics`` exposes, read in one snapshot: letters by state, print jobs by printer and state, the
    output counters (events, so they only grow; counted on the ``ix_events_event`` index, never by scanning
    the table), the QA results and whether each configured device is in the plan."""
    letters, jobs, events, results = t.letters.c, t.print_jobs.c, t.events.c, tq.qa_results.c
    by_state: dict[str, int] = dict(
        conn.execute(select(letters.state, func.count()).group_by(letters.state)).all()
    )
    job_rows = conn.execute(
        select(jobs.printer, jobs.state, func.count()).group_by(jobs.printer, jobs.state)
    ).all()
    printers: dict[str, dict[str, int]] = {p.name: {} for p in settings.printers}
    for printer, state, count in job_rows:
        printers.setdefault(printer, {})[state] = count
    output: dict[str, int] = dict(
        conn.execute(
            select(events.event, func.count())
            .where(events.entity == "letter", events.event.in_([e.value for e in OUTPUT_EVENTS.values()]))
            .group_by(events.event)
        ).all()
    )
    verdicts: dict[str, int] = dict(
        conn.execute(select(results.verdict, func.count()).group_by(results.verdict)).all()
    )
    window: dict[str, int] = dict(
        conn.execute(
            select(results.verdict, func.count())
            .where(results.at >= at - QA_DEFAULT_HOURS * 3600)
            .group_by(results.verdict)
        ).all()
    )
    window_total = sum(window.values())
    out = out_of_service(conn)
    return {
        "letters": {
            state: by_state.get(state, 0) for state in (*STATES, *sorted(set(by_state) - set(STATES)))
        },
        "jobs": {
            printer: {
                state: states.get(state, 0) for state in (*JOB_STATES, *sorted(set(states) - set(JOB_STATES)))
            }
            for printer, states in printers.items()
        },
        "pieces": {name: output.get(event.value, 0) for name, event in OUTPUT_EVENTS.items()},
        "qa_results": {"pass": verdicts.get("pass", 0), "fail": verdicts.get("fail", 0)},
        "qa_pass_ratio": window.get("pass", 0) / window_total if window_total else None,
        "qa_window_hours": QA_DEFAULT_HOURS,
        "devices": [
            {"device": name, "kind": kind, "in_service": name not in out}
            for name, kind in _configured(settings)
        ],
    }
