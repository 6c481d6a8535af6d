"""A press that jams and an operator who restarts the job from page 1, with real processes on loopback: the
sheets already out come out a second time, the inserter diverts the second read of each, and every piece
ends once (dispatched once, the extra copies outsorted and recorded on the run). The press jams at a seeded
press-lifetime sheet; the test plays the operator: it waits for the jam in the press's status file, then
drops the restart-from-page-1 control file; the run finishes by itself. The independent checker
(:mod:`tests.faults.checker`) holds as for every other fault: its rule of the devices' accounting explains
the sheets the recorded restart fed twice (and nothing else)."""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from inserters.collation import DUPLICATE_REASON
from plant.testing import state_settings
from printers.drivers.simulated import press_books, request_restart
from tests.faults.checker import assert_held, check_run, device_books
from tests.faults.harness import (
    HEALED_STATES,
    POINT_TIMEOUT_S,
    RESULTS,
    Result,
    last_final_at,
    runs,
    start_run,
    unfinished,
)
from tests.faults.test_fault_kills import ended, finish

#: The fleet: one press (every print sheet goes through it, so its jam comes), one inserter.
JAM_FLEET = """
time_scale = 1.0
job_max_pieces = 8
[[printers]]
name = "press-a"
sheets_per_minute = 900
jams = [{jam}]
[[inserters]]
name = "ins-a"
envelopes_per_hour = 30000
"""
#: Press-lifetime sheets the seeded jam falls between (the batch prints more than the last).
JAM_SHEETS = (2, 24)


def jam_sheet(run: int) -> int:
    """The press-lifetime sheet at which run ``run``'s press jams (seeded)."""
    return random.Random(f"jam/{run}").randint(*JAM_SHEETS)


def start_jam_run(tmp_path: Path, run: int, jam: int) -> tuple[subprocess.Popen, Path, Path, Path]:
    """`plant run` of a fresh batch (seeded by ``run``) whose press jams at ``jam``
    (:func:`~tests.faults.harness.start_run`): (process, state, config, the press's folder)."""
    proc, state, config = start_run(tmp_path, run, fleet=JAM_FLEET.format(jam=jam))
    settings = state_settings(state, config)
    return proc, state, config, settings.printer_folder(settings.printers[0])


def wait_for_jam(folder: Path, proc: subprocess.Popen) -> str:
    """The device name of the job the press stopped on, once its status file says it jammed."""
    status = folder / "status" / "printer.json"
    deadline = time.monotonic() + POINT_TIMEOUT_S
    printer: dict = {}
    while True:
        try:
            printer = json.loads(status.read_text())
        except (OSError, ValueError):
            printer = {}
        jammed = printer.get("state") == "stopped" and "media-jam" in printer.get("reasons", ())
        if jammed and printer.get("current_job"):
            return str(printer["current_job"])
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before the press jammed")
        if time.monotonic() > deadline:
            raise AssertionError(f"the press never jammed ({status}: {printer})")
        time.sleep(0.05)


def restarted_jobs(state: Path) -> dict[Path, dict[str, int]]:
    """Per device folder, the job names its books show restarted from page 1 and how often."""
    found: dict[Path, dict[str, int]] = {}
    for folder, records in device_books(state).items():
        for r in records:
            if r.get("kind") == "job" and r.get("event") == "restarted":
                jobs = found.setdefault(folder, {})
                jobs[str(r["job"])] = jobs.get(str(r["job"]), 0) + 1
    return found


def envelopes_of(state: Path) -> dict[str, list[dict]]:
    """Every envelope record of the inserters' books per piece id."""
    found: dict[str, list[dict]] = defaultdict(list)
    for records in device_books(state).values():
        for r in records:
            if r.get("kind") == "envelope" and r.get("piece"):
                found[str(r["piece"])].append(r)
    return dict(found)


def run_events(state: Path, event: str) -> list[dict]:
    """The data of every ``event`` recorded on an insert run."""
    engine = create_engine(f"sqlite:///{state / 'ledger.sqlite'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT data FROM events WHERE entity = 'run' AND event = :event"), {"event": event}
            ).all()
    finally:
        engine.dispose()
    return [json.loads(row.data) if isinstance(row.data, str) else row.data for row in rows]


def outsorted_runs(state: Path) -> list[str]:
    """The runs with an ``outsorted_copies`` event."""
    engine = create_engine(f"sqlite:///{state / 'ledger.sqlite'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT entity_id FROM events WHERE entity = 'run' AND event = 'outsorted_copies'")
            ).all()
    finally:
        engine.dispose()
    return [str(row.entity_id) for row in rows]


FAULT = "press jam + restart from page 1"


@pytest.mark.parametrize("run", runs())
def test_jam_then_restart_from_page_1(tmp_path, run):
    """The press jams at a seeded sheet; the operator restarts the job from page 1; the run finishes by
    itself with every piece once: the sheets fed twice are in the press's books with the restart, and the
    inserter's second reads are diverted, outsorted and recorded on the run."""
    jam = jam_sheet(run)
    at = f"press sheet {jam}"
    proc, state, config, folder = start_jam_run(tmp_path, run, jam)
    try:
        job = wait_for_jam(folder, proc)
        open_at = unfinished(state)
        restarted_at = time.time()
        request_restart(folder, job)
    except BaseException:
        finish(proc, failed=True)
        raise
    out, err = finish(proc)
    ended(FAULT, run, at, open_at, proc.returncode, err)
    report = check_run(state, config, expect_states=HEALED_STATES)
    last = last_final_at(state)
    heal = None if last is None else max(0.0, last - restarted_at)
    RESULTS.items.append(Result(FAULT, run, at, report.held, heal, open_at, report.summary()))
    assert_held(report)

    # The press's books: the restart of that job, then its sheets fed again under the same sheet numbers.
    books = press_books(folder)
    (restart,) = [r for r in books if r.get("kind") == "job" and r.get("event") == "restarted"]
    assert restart["job"] == job and restarted_jobs(state) == {folder: {job: 1}}
    fed = [r["sheet"] for r in books if r.get("kind") == "sheet" and r.get("job") == job]
    assert fed[: restart["sheet"]] == list(range(1, restart["sheet"] + 1))
    assert fed[restart["sheet"] :] == list(range(1, len(fed) - restart["sheet"] + 1))
    # The inserter diverted every second read: no piece enveloped twice, and the plant recorded the outsorted
    # copies on the run (their pieces dispatched once, from the copy that was inserted).
    envelopes = envelopes_of(state)
    assert all(sum(e["outcome"] == "inserted" for e in found) <= 1 for found in envelopes.values())
    outsorted = [row for data in run_events(state, "outsorted_copies") for row in data["rows"]]
    if restart["sheets_out"]:
        assert outsorted and report.restart_copies, "sheets came out twice but nothing was outsorted"
    assert set(report.restart_copies) <= {row["piece_id"] for row in outsorted}, report.restart_copies
    assert all(row["outcome"] == "diverted" for row in outsorted)
    for row in outsorted:
        found = envelopes[row["piece_id"]]
        assert any(e["outcome"] == "diverted" for e in found), row
    duplicates = [row["piece_id"] for row in outsorted if row["reason"] == DUPLICATE_REASON]
    assert len(set(duplicates)) == len(duplicates)
    warned = [
        line
        for line in (state / "logs" / "worker.log").read_text().splitlines()
        if "copies_outsorted" in line
    ]
    assert all(
        any(run_id in line for line in warned) for run_id in outsorted_runs(state)
    )  # the operator sees it
