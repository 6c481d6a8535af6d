"""An independent checker of a finished run: every piece exactly once, judged from outside the plant.

It reads only what an auditor could read — the ledger (plain SQL), the receipts files, the manifest files and
the devices' own books (``books.jsonl`` under ``<state>/devices/…``, parsed here, not through the plant's or
the devices' Python objects) — and the exit code and JSON of ``plant audit --all --verify-chain --json``:

* every input letter is recorded once and is final exactly once; the balance inputs = delivered digital +
  dispatched + rejected + cancelled + pulled + failed + unaccounted holds per submission;
* the receipts name every letter once, with the ledger's state;
* no tracking id twice across the manifest files; every DISPATCHED piece in one, no other piece in any;
* per press: no sheet of a job came out more often than the ledger handed the job to a press (plus spoils
  recorded for the piece on it); per piece: the prints the presses show are at most the ledger's ``prints``
  (plus its recorded spoils) — a sheet fed twice with no spoil recorded is a double print;
* per inserter: every envelope maps to exactly one INSERTED/DISPATCHED piece (an "inserted" envelope per
  ledger insert) or to a recorded spoil, divert, pull or loss;
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

    @property
    def held(self) -> bool:
        return not self.findings

    def add(self, kind: str, ids: Iterable[Any], detail: str) -> None:
        self.findings.append(Finding(kind, tuple(str(i) for i in ids), detail))

    def summary(self) -> str:
        finals = ", ".join(f"{k} {v}" for k, v in sorted(self.finals.items()))
        head = (
            f"{self.letters} letters ({finals}); {self.manifest_rows} manifest rows; "
            f"{self.press_sheets} press sheets; {self.envelopes} envelopes; audit exit {self.audit_exit}"
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


def _ledger_id(name: Any, ids: Iterable[str]) -> str | None:
    """The ledger id a device-visible name stands for: the same, or the longest id it carries at its end
    (a name namespaced with the plant id)."""
    name = str(name)
    best = None
    for candidate in ids:
        if name == candidate:
            return candidate
        if name.endswith(candidate) and (best is None or len(candidate) > len(best)):
            best = candidate
    return best


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
    by_pk: dict[str, Counter[str]] = defaultdict(Counter)
    for row in _rows(url, "SELECT entity_id, event FROM events WHERE entity = 'letter'"):
        by_pk[str(row.entity_id)][row.event] += 1
    events = {p: by_pk.get(str(r.pk), Counter()) for p, r in by_piece.items()}
    ledger = _Ledger(by_piece, jobs, members, spools, events)

    device_prints: Counter[str] = Counter()
    inserted: Counter[str] = Counter()
    diverted: Counter[str] = Counter()
    for folder, records in device_books(state).items():
        sheets = [r for r in records if r.get("kind") == "sheet"]
        envelopes = [r for r in records if r.get("kind") == "envelope"]
        if sheets:
            report.press_sheets += len(sheets)
            device_prints.update(_check_press(folder, sheets, records, ledger, report))
        if envelopes:
            report.envelopes += len(envelopes)
            for r in envelopes:
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
    over = sorted(
        f"{by_piece[p].letter_id}/piece {p}: {n} at the presses > {by_piece[p].prints} in the ledger"
        for p, n in device_prints.items()
        if p in by_piece and n > (by_piece[p].prints or 0) + events[p]["spoil"]
    )
    if over:
        report.add("piece_printed_twice", over, "pieces the presses printed more often than the ledger says")
    _check_envelopes(ledger, inserted, diverted, report)


@dataclass(frozen=True)
class _Ledger:
    """The ledger's rows the device checks compare against."""

    by_piece: dict[str, Any]  # piece id → letter row
    jobs: dict[str, Any]  # job id → job row
    members: dict[str, list[Any]]  # job id → its pieces in order (piece_id, sheets)
    spools: Counter[str]  # job id → times handed to a press (→ SPOOLED)
    events: dict[str, Counter[str]]  # piece id → its letter's events by name


def _piece_of_sheet(rows: list[Any], total: int | None) -> dict[int, str]:
    """1-based press sheet → piece id, when the job's pieces' sheets add up to what the press printed."""
    out: dict[int, str] = {}
    sheet = 0
    for row in rows:
        for _ in range(row.sheets):
            sheet += 1
            out[sheet] = str(row.piece_id)
    return out if total is None or sheet == total else {}


def _check_press(
    folder: Path,
    sheets: list[dict[str, Any]],
    records: list[dict[str, Any]],
    ledger: _Ledger,
    report: CheckReport,
) -> Counter[str]:
    """Sheets out per (job, sheet) against the ledger's hand-overs; the prints per piece this press shows."""
    totals: dict[str, int] = {}
    for r in records:
        if r.get("kind") == "job" and r.get("event") == "started" and isinstance(r.get("sheets"), int):
            totals[str(r.get("job"))] = r["sheets"]
    outs: Counter[tuple[str, int]] = Counter(
        (str(r.get("job")), int(r.get("sheet") or 0)) for r in sheets if r.get("outcome") == "out"
    )
    unknown = sorted({name for name, _ in outs if _ledger_id(name, ledger.jobs) is None})
    if unknown:
        report.add("press_unknown_job", unknown, f"{folder.name} printed jobs the ledger does not have")
    doubles = []
    per_piece_job: dict[tuple[str, str], int] = {}
    for (name, sheet), n in sorted(outs.items()):
        job_id = _ledger_id(name, ledger.jobs)
        if job_id is None:
            continue
        piece = _piece_of_sheet(ledger.members.get(job_id, []), totals.get(name)).get(sheet)
        allowed = ledger.spools[job_id] + (ledger.events.get(piece, Counter())["spoil"] if piece else 0)
        if n > allowed:
            where = f" (piece {piece})" if piece else ""
            doubles.append(f"{name} sheet {sheet}{where}: out {n} times, spooled {allowed}")
        targets = [piece] if piece else [str(r.piece_id) for r in ledger.members.get(job_id, [])]
        for p in targets:
            per_piece_job[(job_id, p)] = max(per_piece_job.get((job_id, p), 0), n)
    if doubles:
        report.add("double_print", doubles, f"{folder.name}: sheets out more often than the ledger spooled")
    prints: Counter[str] = Counter()
    for (_, piece), n in per_piece_job.items():
        prints[piece] += n
    return prints


def _check_envelopes(
    ledger: _Ledger, inserted: Counter[str], diverted: Counter[str], report: CheckReport
) -> None:
    """Every envelope maps to one ledger insert of an INSERTED/DISPATCHED piece, or to a recorded spoil,
    divert, pull or loss; every ledger insert has its envelope."""
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
        if diverted[piece] > recorded:
            bad.append(
                f"{letter.letter_id}/piece {piece}: {diverted[piece]} diverted envelope(s), "
                f"{recorded} recorded"
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
