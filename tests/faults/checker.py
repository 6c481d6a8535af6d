"""An independent checker of a finished run: every piece exactly once, judged from outside the plant.

It reads only what an auditor could read — the ledger (plain SQL), the receipts files, the manifest files and
the devices' own books (``books.jsonl`` under ``<state>/devices/…``, parsed here, not through the plant's or
the devices' Python objects) — and the exit code and JSON of ``plant audit --all --verify-chain --json``:

* every input letter is recorded once and is final exactly once; the balance inputs = delivered digital +
  dispatched + rejected + cancelled + pulled + failed + unaccounted holds per submission;
* the receipts name every letter once, with the ledger's state;
* no tracking id twice across the manifest files; every DISPATCHED piece in one, no other piece in any;
* every name a device shows is ``<plant id>-<ledger id>`` of this ledger: a job or run of another plant (a
  second ledger, a staging copy on the same device) is flagged and not counted for this one;
* per press: no sheet of a job came out more often than the ledger handed the job to a press (plus spoils
  recorded for the piece on it); per piece: the prints the presses show are at most the ledger's ``prints``
  (plus its recorded spoils) — a sheet fed twice with no spoil recorded is a double print;
* a press's operator who restarts a job from page 1 (after a jam) feeds the sheets it had reached again, and a
  press restarted after a crash resumes the job from its last saved position and feeds the sheets after it
  again: the devices' own accounting explains those extra copies only as :func:`_check_restarts` states — a
  ``restarted`` record of that job on that press for each extra copy, after the job had reached the sheet,
  the piece enveloped at most once at the inserter with its extra copies diverted, and the plant's record of
  them (``outsorted_copies``); or a ``resumed`` record of that job's print on that press for each extra copy,
  booked after the sheet came out, at a sheet at or before it, and followed by the sheet out again, the
  piece enveloped at most once; anything else stays a double print;
* per inserter: every envelope maps to exactly one INSERTED/DISPATCHED piece (an "inserted" envelope per
  ledger insert) or to a recorded spoil, divert, pull or loss, or to an extra copy a restart or a resume
  explains;
* ``plant audit --all --verify-chain --json`` exits 0.

:func:`check_run` returns a :class:`CheckReport`; :func:`assert_held` fails naming every offending id.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

#: The final states of a letter, in the order of the balance.
FINAL = ("DELIVERED_DIGITAL", "DISPATCHED", "REJECTED", "CANCELLED", "PULLED", "FAILED", "UNACCOUNTED")
#: States of a letter that has been enveloped (the inserter's "inserted" counts for it).
ENVELOPED = ("INSERTED", "DISPATCHED")
#: Seconds ``plant audit`` may take.
AUDIT_TIMEOUT_S = 300


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold: its ``kind``, the offending ``ids`` and what."""

    kind: str
    ids: tuple[str, ...]
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {', '.join(self.ids)} — {self.detail}"


@dataclass
class CheckReport:
    """What :func:`check_run` found: the counts it saw and every finding (none: the run held)."""

    letters: int = 0
    finals: dict[str, int] = field(default_factory=dict)
    manifest_rows: int = 0
    press_sheets: int = 0
    envelopes: int = 0
    audit_exit: int | None = None
    findings: list[Finding] = field(default_factory=list)
    #: Piece id → its extra copies a press's restart from page 1 explains (see :func:`_check_restarts`).
    restart_copies: dict[str, int] = field(default_factory=dict)
    #: Piece id → its extra copies a press's resume after a crash explains (see :func:`_check_restarts`).
    resume_copies: dict[str, int] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        return not self.findings

    def add(self, kind: str, ids: Iterable[Any], detail: str) -> None:
        self.findings.append(Finding(kind, tuple(str(i) for i in ids), detail))

    def summary(self) -> str:
        finals = ", ".join(f"{k} {v}" for k, v in sorted(self.finals.items()))
        head = (
            f"{self.letters} letters ({finals}); {self.manifest_rows} manifest rows; "
            f"{self.press_sheets} press sheets; {self.envelopes} envelopes; "
            f"{sum(self.restart_copies.values())} restart copies; "
            f"{sum(self.resume_copies.values())} resume copies; audit exit {self.audit_exit}"
        )
        return head + "".join(f"\n  {f}" for f in self.findings)


# -- reading -----------------------------------------------------------------------------------------------
def _rows(url: str, sql: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The whole JSON objects of a books file (a torn or foreign line is skipped)."""
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def device_books(state: Path) -> dict[Path, list[dict[str, Any]]]:
    """Every device's books under ``<state>/devices``: folder → records."""
    root = Path(state) / "devices"
    if not root.is_dir():
        return {}
    return {path.parent: read_jsonl(path) for path in sorted(root.rglob("books.jsonl"))}


def _ledger_id(name: Any, plant_id: str | None) -> str | None:
    """The ledger id a device-visible name stands for: ``<plant id>-<ledger id>`` gives the ledger id; a name
    of another plant (or of none) gives None. A ledger without a plant id names its work by the ledger id."""
    name = str(name)
    if plant_id is None:
        return name
    prefix = f"{plant_id}-"
    return name[len(prefix) :] if name.startswith(prefix) else None


def _plant_id(url: str) -> str | None:
    """The ledger's plant id (None in a ledger that has none)."""
    try:
        rows = _rows(url, "SELECT plant_id FROM plant_identity WHERE id = 1")
    except Exception:  # a ledger older than the table has no plant id
        return None
    return str(rows[0].plant_id) if rows else None


# -- the check ---------------------------------------------------------------------------------------------
def check_run(
    state: Path,
    config: Path | None = None,
    ledger_url: str | None = None,
    expect_states: Iterable[str] | None = None,
    audit: bool = True,
) -> CheckReport:
    """Check the finished run in ``state`` (its ledger at ``ledger_url``, by default the SQLite file there);
    ``expect_states``: the only final states a letter may have (e.g. no UNACCOUNTED in a run that must heal
    without an operator)."""
    state = Path(state)
    url = ledger_url or f"sqlite:///{state / 'ledger.sqlite'}"
    report = CheckReport()
    letters = _check_letters(url, report, expect_states)
    _check_receipts(state, letters, report)
    _check_manifests(state, letters, report)
    _check_devices(state, url, letters, report)
    if audit:
        _check_audit(state, config, ledger_url, report)
    return report


def _check_letters(url: str, report: CheckReport, expect_states: Iterable[str] | None) -> dict[int, Any]:
    rows = _rows(
        url,
        "SELECT l.pk, l.submission_id, l.letter_id, l.state, p.piece_id, p.tracking_id, p.prints "
        "FROM letters l LEFT JOIN pieces p ON p.letter_pk = l.pk ORDER BY l.pk",
    )
    letters = {row.pk: row for row in rows}
    report.letters = len(rows)
    report.finals = dict(Counter(row.state for row in rows))
    declared = dict(_rows(url, "SELECT submission_id, letters FROM submissions"))
    per_sub: dict[str, Counter[str]] = defaultdict(Counter)
    seen: Counter[tuple[str, str]] = Counter()
    for row in rows:
        per_sub[row.submission_id][row.state] += 1
        seen[(row.submission_id, row.letter_id)] += 1
    twice = [f"{s}/{letter}" for (s, letter), n in seen.items() if n > 1]
    if twice:
        report.add("letter_twice", twice, "letters recorded more than once")
    open_ = [f"{r.letter_id}({r.state})" for r in rows if r.state not in FINAL]
    if open_:
        report.add("not_final", open_, "letters not in a final state")
    if expect_states is not None:
        allowed = set(expect_states)
        odd = [f"{r.letter_id}({r.state})" for r in rows if r.state in FINAL and r.state not in allowed]
        if odd:
            report.add("unexpected_final", odd, f"final states other than {sorted(allowed)}")
    for submission, inputs in declared.items():
        states = per_sub.get(submission, Counter())
        finals = sum(states[s] for s in FINAL)
        if finals != inputs or sum(states.values()) != inputs:
            report.add(
                "unbalanced",
                [submission],
                f"inputs {inputs} != final {finals} (recorded {sum(states.values())}: {dict(states)})",
            )
    for submission in set(per_sub) - set(declared):
        report.add("unknown_submission", [submission], "letters of a submission the ledger does not have")
    return letters


def _check_receipts(state: Path, letters: dict[int, Any], report: CheckReport) -> None:
    by_sub: dict[str, dict[str, str]] = defaultdict(dict)
    for row in letters.values():
        by_sub[row.submission_id][row.letter_id] = row.state
    for submission, expected in sorted(by_sub.items()):
        path = state / "receipts" / f"{submission}.csv"
        if not path.exists():
            report.add("no_receipts", [submission], f"{path} missing")
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        counts = Counter(r["letter_id"] for r in rows)
        twice = sorted(k for k, n in counts.items() if n > 1)
        if twice:
            report.add("receipt_twice", twice, f"letters twice in {path.name}")
        missing = sorted(set(expected) - set(counts))
        if missing:
            report.add("receipt_missing", missing, f"letters missing from {path.name}")
        wrong = sorted(
            f"{r['letter_id']}({r['status']}!={expected[r['letter_id']]})"
            for r in rows
            if r["letter_id"] in expected and r["status"] != expected[r["letter_id"]]
        )
        if wrong:
            report.add("receipt_state", wrong, f"receipt status differs from the ledger in {path.name}")


def _check_manifests(state: Path, letters: dict[int, Any], report: CheckReport) -> None:
    where: dict[str, list[str]] = defaultdict(list)
    folder = state / "manifests"
    for path in sorted(folder.rglob("*.csv")) if folder.is_dir() else []:
        with path.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                if row.get("tracking_id"):
                    where[row["tracking_id"]].append(f"{path.relative_to(folder)}:{line}")
    report.manifest_rows = sum(len(v) for v in where.values())
    twice = sorted(f"{tid}@{'+'.join(places)}" for tid, places in where.items() if len(places) > 1)
    if twice:
        report.add("manifest_twice", twice, "tracking ids in more than one manifest row")
    dispatched = {r.tracking_id: r for r in letters.values() if r.state == "DISPATCHED"}
    missing = sorted(f"{r.letter_id}/{tid}" for tid, r in dispatched.items() if tid not in where)
    if missing:
        report.add("unmanifested", missing, "DISPATCHED pieces in no manifest")
    stray = sorted(tid for tid in where if tid not in dispatched)
    if stray:
        report.add("manifest_stray", stray, "manifested tracking ids of pieces not DISPATCHED")


def _check_devices(state: Path, url: str, letters: dict[int, Any], report: CheckReport) -> None:
    by_piece = {str(r.piece_id): r for r in letters.values() if r.piece_id is not None}
    jobs = {r.job_id: r for r in _rows(url, "SELECT job_id, state FROM print_jobs") if r.job_id}
    members: dict[str, list[Any]] = defaultdict(list)
    for row in _rows(
        url,
        "SELECT j.job_id, j.seq, p.piece_id, p.sheets FROM job_pieces j "
        "JOIN pieces p ON p.piece_id = j.piece_id ORDER BY j.job_id, j.seq",
    ):
        members[row.job_id].append(row)
    spooled = "SELECT entity_id FROM events WHERE entity = 'job' AND to_state = 'SPOOLED'"
    spools = Counter(str(r.entity_id) for r in _rows(url, spooled))
    # an operator who marks a job parked before its hand-over was recorded as printed (its sheets found)
    # attests one hand-over the ledger had not seen
    attested = "SELECT entity_id, data FROM events WHERE entity = 'job' AND event = 'operator_printed'"
    for row in _rows(url, attested):
        data = row.data if isinstance(row.data, dict) else json.loads(row.data or "{}")
        if data.get("parked_from") == "SPOOLING":
            spools[str(row.entity_id)] += 1
    by_pk: dict[str, Counter[str]] = defaultdict(Counter)
    for row in _rows(url, "SELECT entity_id, event FROM events WHERE entity = 'letter'"):
        by_pk[str(row.entity_id)][row.event] += 1
    events = {p: by_pk.get(str(r.pk), Counter()) for p, r in by_piece.items()}
    ledger = _Ledger(by_piece, jobs, members, spools, events, _plant_id(url), _outsorted(url))

    books = device_books(state)
    inserted: Counter[str] = Counter()
    diverted: Counter[str] = Counter()
    for folder, records in books.items():
        envelopes = [r for r in records if r.get("kind") == "envelope"]
        if envelopes:
            report.envelopes += len(envelopes)
            _count_envelopes(folder, envelopes, ledger, inserted, diverted, report)
    device_prints: Counter[str] = Counter()
    excess: list[_Excess] = []
    for folder, records in books.items():
        sheets = [r for r in records if r.get("kind") == "sheet"]
        if sheets:
            report.press_sheets += len(sheets)
            prints, over = _check_press(folder, sheets, records, ledger, report)
            device_prints.update(prints)
            excess.extend(over)
    restarted, resumed = _check_restarts(excess, ledger, inserted, diverted, report)
    over = sorted(
        f"{by_piece[p].letter_id}/piece {p}: {n} at the presses > {by_piece[p].prints} in the ledger"
        + (f" (+{restarted[p]} explained by a restart)" if restarted[p] else "")
        + (f" (+{resumed[p]} explained by a resume)" if resumed[p] else "")
        for p, n in device_prints.items()
        if p in by_piece and n > (by_piece[p].prints or 0) + events[p]["spoil"] + restarted[p] + resumed[p]
    )
    if over:
        report.add("piece_printed_twice", over, "pieces the presses printed more often than the ledger says")
    _check_envelopes(ledger, inserted, diverted, restarted + resumed, report)


def _outsorted(url: str) -> Counter[str]:
    """Piece id → the copies of it the plant recorded as outsorted on a run (``outsorted_copies`` events:
    copies an inserter diverted that account for no piece, e.g. the second copy of a re-fed sheet)."""
    found: Counter[str] = Counter()
    for row in _rows(url, "SELECT data FROM events WHERE entity = 'run' AND event = 'outsorted_copies'"):
        data = json.loads(row.data) if isinstance(row.data, str) else row.data
        for copy in (data or {}).get("rows", ()):
            if copy.get("piece_id") and copy.get("outcome") != "inserted":
                found[str(copy["piece_id"])] += 1
    return found


def _count_envelopes(
    folder: Path,
    envelopes: list[dict[str, Any]],
    ledger: _Ledger,
    inserted: Counter[str],
    diverted: Counter[str],
    report: CheckReport,
) -> None:
    """Count an inserter's envelopes of this plant's runs per piece: inserted, or diverted (any other)."""
    foreign = sorted(
        {str(r.get("run")) for r in envelopes if _ledger_id(r.get("run"), ledger.plant_id) is None}
    )
    if foreign:
        report.add("inserter_foreign_run", foreign, f"{folder.name} ran runs not named for this plant")
    for r in envelopes:
        if _ledger_id(r.get("run"), ledger.plant_id) is None:
            continue
        piece = r.get("piece")
        if piece is None:
            if r.get("outcome") == "inserted":
                report.add(
                    "envelope_no_piece",
                    [f"{folder.name}:{r.get('run')}#{r.get('cycle')}"],
                    "an envelope inserted with no piece",
                )
            continue
        (inserted if r.get("outcome") == "inserted" else diverted)[str(piece)] += 1


@dataclass(frozen=True)
class _Ledger:
    """The ledger's rows the device checks compare against."""

    by_piece: dict[str, Any]  # piece id → letter row
    jobs: dict[str, Any]  # job id → job row
    members: dict[str, list[Any]]  # job id → its pieces in order (piece_id, sheets)
    spools: Counter[str]  # job id → times handed to a press (→ SPOOLED)
    events: dict[str, Counter[str]]  # piece id → its letter's events by name
    plant_id: str | None  # what every device-visible name of this ledger starts with
    outsorted: Counter[str]  # piece id → copies the plant recorded as outsorted on a run


@dataclass(frozen=True)
class _Excess:
    """A sheet of a job a press put out more often than the ledger handed the job to it."""

    press: str  # the press's folder name
    name: str  # the job's device name
    job_id: str  # its ledger id
    sheet: int
    piece: str | None  # the piece the sheet belongs to (None: the press's sheet count does not match)
    out: int  # times out at this press
    allowed: int  # hand-overs of the job (→ SPOOLED) plus the piece's recorded spoils
    restarts: int  # restarts from page 1 of the job on this press after it had reached the sheet
    resumes: int = 0  # resumes of the job's print on this press after the sheet out, then the sheet out again

    @property
    def extra(self) -> int:
        return self.out - self.allowed

    @property
    def resumed(self) -> int:
        """The extra copies the press's resumes of the job account for (one each, at most)."""
        return min(self.extra, self.resumes)

    @property
    def within_restarts(self) -> bool:
        """Whether the press's resumes and restarts of the job can explain the extra copies (one each, at
        most; resumes first)."""
        return self.piece is not None and self.extra - self.resumed <= self.restarts

    def __str__(self) -> str:
        where = f" (piece {self.piece})" if self.piece else ""
        return f"{self.name} sheet {self.sheet}{where}: out {self.out} times, spooled {self.allowed}"


def _piece_of_sheet(rows: list[Any], total: int | None) -> dict[int, str]:
    """1-based press sheet → piece id, when the job's pieces' sheets add up to what the press printed."""
    out: dict[int, str] = {}
    sheet = 0
    for row in rows:
        for _ in range(row.sheets):
            sheet += 1
            out[sheet] = str(row.piece_id)
    return out if total is None or sheet == total else {}


def _resumes(records: list[dict[str, Any]]) -> Counter[tuple[str, int]]:
    """(job name, sheet) → the press's resumes after a crash that fed the sheet again, in the books' order: a
    ``resumed`` record of the job's print at a sheet at or before it, booked after the sheet came out in
    that print and followed by the sheet out again before the print's next ``resumed``/``restarted``
    record. Each such resume counts once for the sheet, however often the sheet came out after it."""
    found: Counter[tuple[str, int]] = Counter()
    seen: dict[tuple[str, Any], set[int]] = defaultdict(set)  # (job, print) → sheets out so far
    open_: dict[tuple[str, Any], tuple[int, set[int], set[int]]] = {}  # the last resume: at, before, again
    for r in records:
        key = (str(r.get("job")), r.get("print"))
        if r.get("kind") == "job" and r.get("event") in ("resumed", "restarted"):
            open_.pop(key, None)
            if r.get("event") == "resumed":
                open_[key] = (int(r.get("sheet") or 0), set(seen[key]), set())
        elif r.get("kind") == "sheet" and r.get("outcome") == "out":
            sheet = int(r.get("sheet") or 0)
            resume = open_.get(key)
            if resume is not None:
                at, before, again = resume
                if at <= sheet and sheet in before and sheet not in again:
                    again.add(sheet)
                    found[(key[0], sheet)] += 1
            seen[key].add(sheet)
    return found


def _check_press(
    folder: Path,
    sheets: list[dict[str, Any]],
    records: list[dict[str, Any]],
    ledger: _Ledger,
    report: CheckReport,
) -> tuple[Counter[str], list[_Excess]]:
    """Sheets out per (job, sheet) against the ledger's hand-overs: the prints per piece this press shows,
    and the sheets out more often than that (judged by :func:`_check_restarts`)."""
    totals: dict[str, int] = {}
    reached: dict[str, list[int]] = defaultdict(list)  # job id → the sheet each restart had reached
    for r in records:
        if r.get("kind") != "job":
            continue
        if r.get("event") == "started" and isinstance(r.get("sheets"), int):
            totals[str(r.get("job"))] = r["sheets"]
        elif r.get("event") == "restarted" and (job := _ledger_id(r.get("job"), ledger.plant_id)):
            reached[job].append(int(r.get("sheet") or 0))
    outs: Counter[tuple[str, int]] = Counter(
        (str(r.get("job")), int(r.get("sheet") or 0)) for r in sheets if r.get("outcome") == "out"
    )
    resumes = _resumes(records)
    names = {name for name, _ in outs}
    foreign = sorted(name for name in names if _ledger_id(name, ledger.plant_id) is None)
    if foreign:
        report.add("press_foreign_job", foreign, f"{folder.name} printed jobs not named for this plant")
    unknown = sorted(
        name for name in names if (job := _ledger_id(name, ledger.plant_id)) and job not in ledger.jobs
    )
    if unknown:
        report.add("press_unknown_job", unknown, f"{folder.name} printed jobs the ledger does not have")
    excess = []
    per_piece_job: dict[tuple[str, str], int] = {}
    for (name, sheet), n in sorted(outs.items()):
        job_id = _ledger_id(name, ledger.plant_id)
        if job_id is None or job_id not in ledger.jobs:
            continue
        piece = _piece_of_sheet(ledger.members.get(job_id, []), totals.get(name)).get(sheet)
        allowed = ledger.spools[job_id] + (ledger.events.get(piece, Counter())["spoil"] if piece else 0)
        if n > allowed:
            restarts = sum(1 for at in reached.get(job_id, ()) if at >= sheet)
            excess.append(
                _Excess(folder.name, name, job_id, sheet, piece, n, allowed, restarts, resumes[(name, sheet)])
            )
        targets = [piece] if piece else [str(r.piece_id) for r in ledger.members.get(job_id, [])]
        for p in targets:
            per_piece_job[(job_id, p)] = max(per_piece_job.get((job_id, p), 0), n)
    prints: Counter[str] = Counter()
    for (_, piece), n in per_piece_job.items():
        prints[piece] += n
    return prints, excess


def _check_restarts(
    excess: list[_Excess],
    ledger: _Ledger,
    inserted: Counter[str],
    diverted: Counter[str],
    report: CheckReport,
) -> tuple[Counter[str], Counter[str]]:
    """The devices' accounting of a press fed a job's sheets again: a restart from page 1 (a press's operator
    after a jam) feeds the sheets the job had reached again; a resume after a crash (the press restarted
    with the plant) feeds the sheets after its last saved position again. Extra copies of a sheet are
    explained only when all of this holds —

    * the press's books record resumes or restarts of that job on that press, together at least as many as
      the sheet's extra copies, each explaining one copy at most:

      - a resume (``kind: job``, ``event: resumed``) of the job's print, booked after the sheet came out, at a
        sheet at or before it (its ``sheet``), and followed by the sheet out again (before the print's next
        resume or restart); resumes are counted first;
      - a restart (``event: restarted``) after the job had reached the sheet (its ``sheet``);

    * the inserters' books show the sheet's piece enveloped ("inserted") at most once, all inserters
      together — its other copies diverted (a DIVERTED envelope, an outsorted extra) or never enveloped;
    * for the copies only a restart explains, the inserter diverted at least that many (beyond the spoils,
      pulls and losses the ledger recorded for the piece) and the plant recorded them as outsorted on their
      run (``outsorted_copies`` events).

    Every other sheet out too often is a ``double_print``. Returns piece id → its extra copies a restart
    explains and piece id → those a resume explains (kept on the report as ``restart_copies`` and
    ``resume_copies``)."""
    by_restart: dict[tuple[str, str, str], int] = {}
    by_resume: dict[tuple[str, str, str], int] = {}
    for e in excess:
        if e.within_restarts and e.piece is not None:
            key = (e.press, e.job_id, e.piece)
            by_restart[key] = max(by_restart.get(key, 0), e.extra - e.resumed)
            by_resume[key] = max(by_resume.get(key, 0), e.resumed)
    restart_extra: Counter[str] = Counter()
    resume_extra: Counter[str] = Counter()
    for (_, _, piece), n in by_restart.items():
        restart_extra[piece] += n
    for (_, _, piece), n in by_resume.items():
        resume_extra[piece] += n
    why: dict[str, str] = {}
    for piece in set(restart_extra) | set(resume_extra):
        n = restart_extra[piece]
        events = ledger.events.get(piece, Counter())
        recorded = events["spoil"] + events["pull"] + events["lose"]
        if inserted[piece] > 1:
            why[piece] = f"piece {piece} enveloped {inserted[piece]} times"
        elif n and diverted[piece] - recorded < n:
            why[piece] = f"{diverted[piece] - recorded} of its {n} extra cop(ies) diverted at the inserter"
        elif ledger.outsorted[piece] < n:
            why[piece] = f"{ledger.outsorted[piece]} of its {n} extra cop(ies) recorded as outsorted"
    restarted = Counter({p: n for p, n in restart_extra.items() if p not in why and n})
    resumed = Counter({p: n for p, n in resume_extra.items() if p not in why and n})
    by_press: dict[str, list[str]] = defaultdict(list)
    for e in excess:
        if e.within_restarts and e.piece is not None and e.piece not in why:
            continue
        if not e.restarts and not e.resumes:
            item = str(e)
        elif not e.within_restarts:
            item = f"{e} — {e.extra} extra, {e.restarts} restart(s) of the job had reached it"
            item += f", {e.resumes} resume(s) fed it again" if e.resumes else ""
        else:
            item = f"{e} — {e.restarts} restart(s), {e.resumes} resume(s), but {why[str(e.piece)]}"
        by_press[e.press].append(item)
    for press, items in sorted(by_press.items()):
        report.add("double_print", items, f"{press}: sheets out more often than the ledger spooled")
    report.restart_copies = dict(restarted)
    report.resume_copies = dict(resumed)
    return restarted, resumed


def _check_envelopes(
    ledger: _Ledger,
    inserted: Counter[str],
    diverted: Counter[str],
    restarted: Counter[str],
    report: CheckReport,
) -> None:
    """Every envelope maps to one ledger insert of an INSERTED/DISPATCHED piece, or to a recorded spoil,
    divert, pull or loss, or to an extra copy a restart or a resume explained (``restarted``: both, per
    piece); every ledger insert has its envelope."""
    bad = []
    for piece in sorted(set(inserted) | set(diverted) | set(ledger.by_piece), key=str):
        letter = ledger.by_piece.get(piece)
        if letter is None:
            bad.append(
                f"piece {piece}: not in the ledger ({inserted[piece]} inserted, {diverted[piece]} other)"
            )
            continue
        events = ledger.events.get(piece, Counter())
        inserts = events["insert"] + events["find"]
        if (
            inserted[piece] != inserts
            or inserted[piece] > 1
            or (inserted[piece] and letter.state not in ENVELOPED)
        ):
            bad.append(
                f"{letter.letter_id}/piece {piece}: {inserted[piece]} inserted envelope(s), "
                f"{inserts} insert(s) in the ledger, state {letter.state}"
            )
        recorded = events["spoil"] + events["pull"] + events["lose"]
        if diverted[piece] > recorded + restarted[piece]:
            bad.append(
                f"{letter.letter_id}/piece {piece}: {diverted[piece]} diverted envelope(s), "
                f"{recorded} recorded"
                + (f", {restarted[piece]} restart or resume cop(ies)" if restarted[piece] else "")
            )
    if bad:
        report.add("envelope_unmapped", bad, "envelopes that do not match the ledger exactly once")


def _check_audit(state: Path, config: Path | None, ledger_url: str | None, report: CheckReport) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANT_")}
    env["PLANT_STATE_DIR"] = str(state)
    if ledger_url:
        env["PLANT_DATABASE_URL"] = ledger_url
    command = [sys.executable, "-m", "plant"] + (["--config", str(config)] if config else [])
    command += ["audit", "--all", "--verify-chain", "--json"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S)
    report.audit_exit = result.returncode
    if result.returncode != 0:
        try:
            data = json.loads(result.stdout)
            ids = [f["id"] for f in data.get("findings", [])] or ["-"]
            detail = json.dumps({"findings": data.get("findings"), "chain": data.get("chain")})[:2000]
        except ValueError:
            ids, detail = ["-"], (result.stdout + result.stderr)[-2000:]
        report.add(
            "plant_audit",
            ids,
            f"`plant audit --all --verify-chain --json` exit {result.returncode}: {detail}",
        )


def assert_held(report: CheckReport) -> None:
    """Fail naming every finding and its offending ids."""
    assert report.held, "the run did not hold:\n" + report.summary()
