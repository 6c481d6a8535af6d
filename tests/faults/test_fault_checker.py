"""The checker sees what it claims to: a clean run holds; a sheet fed twice in a press's books, a tracking id
in two manifest rows, an envelope inserted twice and work of another plant on a device are each named, with
their ids; the re-fed sheets of a press restarted from page 1 are explained only by the devices' accounting
of the restart (the press's record, the inserter's diverted copies, the plant's record of them), and those of
a press resumed after a crash only by its `resumed` record between the two feeds, the piece enveloped once."""

from __future__ import annotations

import csv
import json
import shutil
import time

import pytest
from sqlalchemy import create_engine, text

from inserters.collation import DUPLICATE_REASON
from plant.demo import generate
from tests.faults.checker import check_run, device_books
from tests.faults.harness import FLEET
from tests.plant.helpers import run_submission


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One clean `plant run` of 16 letters (its state dir and config)."""
    folder = tmp_path_factory.mktemp("clean")
    batch = generate(folder / "in", 16, seed=5)
    state = run_submission(folder, batch.submission, FLEET)
    return state, folder / "plant.toml"


def append(path, record) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def test_checker_finds_each_kind_of_double(finished, tmp_path):
    state = tmp_path / "state"
    shutil.copytree(finished[0], state, ignore=shutil.ignore_patterns("*.sock"))
    config = finished[1]
    clean = check_run(state, config)
    assert clean.held, clean.summary()
    assert clean.press_sheets and clean.envelopes and clean.manifest_rows

    books = device_books(state)
    press = next(f for f, r in books.items() if any(x.get("kind") == "sheet" for x in r))
    sheet = next(r for r in books[press] if r.get("kind") == "sheet" and r.get("outcome") == "out")
    append(press / "books.jsonl", {**sheet, "seq": 10**6})
    inserter = next(f for f, r in books.items() if any(x.get("kind") == "envelope" for x in r))
    envelope = next(r for r in books[inserter] if r.get("outcome") == "inserted")
    append(inserter / "books.jsonl", {**envelope, "seq": 10**6})
    manifest = next((state / "manifests").rglob("*.csv"))
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with manifest.open("a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=list(rows[0])).writerow(rows[0])

    # the devices know every job and run as <plant id>-<ledger id>; work of another plant is flagged
    plant, _, job = sheet["job"].rpartition("-")
    assert len(plant) == 8 and job.startswith("J") and envelope["run"].startswith(f"{plant}-R")
    append(press / "books.jsonl", {**sheet, "job": f"00000000-{job}", "seq": 10**6 + 1})
    append(inserter / "books.jsonl", {**envelope, "run": "00000000-R000001", "seq": 10**6 + 1})

    report = check_run(state, config, audit=False)
    kinds = {f.kind: f for f in report.findings}
    assert {"double_print", "envelope_unmapped", "manifest_twice"} <= set(kinds), report.summary()
    assert kinds["press_foreign_job"].ids == (f"00000000-{job}",), report.summary()
    assert kinds["inserter_foreign_run"].ids == ("00000000-R000001",), report.summary()
    assert f"{sheet['job']} sheet {sheet['sheet']}" in " ".join(kinds["double_print"].ids)
    assert rows[0]["tracking_id"] in " ".join(kinds["manifest_twice"].ids)
    audited = check_run(state, config)
    assert audited.audit_exit == 1, audited.summary()  # plant audit sees the manifest row twice too


# -- a press restarted from page 1: the devices' accounting explains the re-fed sheets, nothing else ---------
def restart_scene(
    finished,
    tmp_path,
    restarts=1,
    feeds=1,
    reached=None,
    envelope="diverted",
    recorded=True,
    event="restarted",
    booked_after=False,
):
    """A copy of the clean run in which a press fed the sheets of the first piece of one of its jobs again
    ``feeds`` more time(s) (same job, same sheet numbers), its books recording ``restarts`` restart(s) from
    page 1 after the job had reached sheet ``reached`` (default: the piece's last sheet) — or, with ``event``
    "resumed", resume(s) after a crash at sheet ``reached`` (default: 1) — before the sheets fed again (after
    them when ``booked_after``); the inserter enveloped each extra copy with ``envelope`` as its outcome
    (None: no envelope at all), and the plant recorded them as outsorted on the run when ``recorded``:
    (state, config, device job name, piece id, sheets re-fed)."""
    state = tmp_path / "state"
    shutil.copytree(finished[0], state, ignore=shutil.ignore_patterns("*.sock"))
    books = device_books(state)
    press, records = next((f, r) for f, r in books.items() if any(x.get("kind") == "sheet" for x in r))
    started = next(r for r in records if r.get("kind") == "job" and r.get("event") == "started")
    name = str(started["job"])
    plant_id, _, job = name.rpartition("-")
    engine = create_engine(f"sqlite:///{state / 'ledger.sqlite'}")
    with engine.connect() as conn:
        piece, sheets = conn.execute(
            text(
                "SELECT p.piece_id, p.sheets FROM job_pieces j JOIN pieces p ON p.piece_id = j.piece_id "
                "WHERE j.job_id = :job ORDER BY j.seq LIMIT 1"
            ),
            {"job": job},
        ).one()
    piece = str(piece)
    fed = [r for r in records if r.get("kind") == "sheet" and r.get("job") == name and r["sheet"] <= sheets]
    assert [r["sheet"] for r in fed] == list(range(1, sheets + 1))
    seq = 10**6

    def book_restarts() -> None:
        nonlocal seq
        for _ in range(restarts):
            seq += 1
            at = reached if reached is not None else sheets if event == "restarted" else 1
            restart = {"kind": "job", "event": event, "job": name, "print": started.get("print")}
            append(press / "books.jsonl", {**restart, "seq": seq, "sheet": at, "sheets_out": at})

    if not booked_after:
        book_restarts()
    for _ in range(feeds):
        for r in fed:
            seq += 1
            append(press / "books.jsonl", {**r, "seq": seq})
    if booked_after:
        book_restarts()
    inserter, copy = next(
        (f, r)
        for f, rs in books.items()
        for r in rs
        if r.get("kind") == "envelope" and str(r.get("piece")) == piece and r.get("outcome") == "inserted"
    )
    reason = DUPLICATE_REASON if envelope != "inserted" else ""
    for _ in range(feeds if envelope else 0):
        seq += 1
        append(inserter / "books.jsonl", {**copy, "seq": seq, "outcome": envelope, "reason": reason})
    if recorded:
        row = {"piece_id": piece, "outcome": envelope or "diverted", "reason": reason, "sheets_read": sheets}
        data = {"inserter": inserter.name, "rows": [row] * feeds}
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO events (at, entity, entity_id, event, data) "
                    "VALUES (:at, 'run', :run, 'outsorted_copies', :data)"
                ),
                {
                    "at": time.time(),
                    "run": str(copy["run"]).removeprefix(f"{plant_id}-"),
                    "data": json.dumps(data),
                },
            )
    engine.dispose()
    return state, finished[1], name, piece, sheets


def test_a_recorded_restart_explains_the_sheets_fed_again(finished, tmp_path):
    state, config, name, piece, _ = restart_scene(finished, tmp_path)
    report = check_run(state, config, audit=False)
    assert report.held, report.summary()
    assert report.restart_copies == {piece: 1}, report.summary()


def double_print(report, name, piece) -> str:
    """The ``double_print`` finding's ids (it must name the re-fed sheet 1 of ``piece`` of ``name``)."""
    kinds = {f.kind: f for f in report.findings}
    assert "double_print" in kinds, report.summary()
    ids = " ".join(kinds["double_print"].ids)
    assert f"{name} sheet 1 (piece {piece})" in ids, report.summary()
    assert piece not in report.restart_copies, report.summary()
    return ids


def test_sheets_fed_again_with_no_restart_are_a_double_print(finished, tmp_path):
    state, config, name, piece, _ = restart_scene(finished, tmp_path, restarts=0)
    report = check_run(state, config, audit=False)
    double_print(report, name, piece)
    kinds = {f.kind for f in report.findings}
    assert {"piece_printed_twice", "envelope_unmapped"} <= kinds, report.summary()


def test_a_restart_does_not_explain_a_second_copy_enveloped(finished, tmp_path):
    state, config, name, piece, _ = restart_scene(finished, tmp_path, envelope="inserted", recorded=False)
    report = check_run(state, config, audit=False)
    assert "enveloped 2 times" in double_print(report, name, piece)
    assert "envelope_unmapped" in {f.kind for f in report.findings}, report.summary()


def test_more_extra_copies_than_restarts_are_a_double_print(finished, tmp_path):
    state, config, name, piece, _ = restart_scene(finished, tmp_path, restarts=1, feeds=2)
    report = check_run(state, config, audit=False)
    assert "2 extra, 1 restart(s)" in double_print(report, name, piece)
    assert "piece_printed_twice" in {f.kind for f in report.findings}, report.summary()


@pytest.mark.parametrize(
    "scene",
    [{"reached": 0}, {"recorded": False}, {"envelope": None}],
    ids=["sheet-not-reached", "not-recorded-by-the-plant", "not-diverted"],
)
def test_a_restart_explains_nothing_without_each_of_its_conditions(finished, tmp_path, scene):
    """A restart before the job reached the sheet, extra copies the plant did not record as outsorted, or
    extra copies not diverted at the inserter: the re-fed sheet stays a double print."""
    state, config, name, piece, _ = restart_scene(finished, tmp_path, **scene)
    report = check_run(state, config, audit=False)
    double_print(report, name, piece)


# -- a press resumed after a crash: its `resumed` record explains the sheets after it fed again -------------
@pytest.mark.parametrize("envelope", ["diverted", None], ids=["diverted", "never-enveloped"])
def test_a_resume_explains_the_sheets_fed_again(finished, tmp_path, envelope):
    """kill -9 of the plant with its simulated presses, then resume: the press books `resumed` at its last
    saved position and feeds the sheets after it again; the inserter diverts the re-fed piece (a DIVERTED
    result, not recorded as outsorted) or never envelopes the copy, and the piece is enveloped once."""
    state, config, name, piece, _ = restart_scene(
        finished, tmp_path, event="resumed", envelope=envelope, recorded=False
    )
    report = check_run(state, config, audit=False)
    assert report.held, report.summary()
    assert report.resume_copies == {piece: 1} and not report.restart_copies, report.summary()
    assert "1 resume copies" in report.summary()


def test_sheets_fed_again_with_no_resume_are_a_double_print(finished, tmp_path):
    state, config, name, piece, _ = restart_scene(
        finished, tmp_path, restarts=0, event="resumed", recorded=False
    )
    report = check_run(state, config, audit=False)
    double_print(report, name, piece)
    assert piece not in report.resume_copies, report.summary()
    kinds = {f.kind for f in report.findings}
    assert {"piece_printed_twice", "envelope_unmapped"} <= kinds, report.summary()


def test_a_resume_does_not_explain_a_second_copy_enveloped(finished, tmp_path):
    state, config, name, piece, _ = restart_scene(
        finished, tmp_path, event="resumed", envelope="inserted", recorded=False
    )
    report = check_run(state, config, audit=False)
    assert "enveloped 2 times" in double_print(report, name, piece)
    assert piece not in report.resume_copies, report.summary()
    assert {"envelope_unmapped", "piece_printed_twice"} <= {f.kind for f in report.findings}, report.summary()


def test_two_extra_copies_after_one_resume_are_a_double_print(finished, tmp_path):
    state, config, name, piece, _ = restart_scene(
        finished, tmp_path, event="resumed", feeds=2, recorded=False
    )
    report = check_run(state, config, audit=False)
    assert "2 extra, 0 restart(s) of the job had reached it, 1 resume(s)" in double_print(report, name, piece)
    assert piece not in report.resume_copies, report.summary()
    assert "piece_printed_twice" in {f.kind for f in report.findings}, report.summary()


@pytest.mark.parametrize(
    "scene",
    [{"reached": 2}, {"booked_after": True}],
    ids=["resumed-beyond-the-sheet", "booked-after-the-feed"],
)
def test_a_resume_explains_only_sheets_it_fed_again(finished, tmp_path, scene):
    """A resume at a sheet after the re-fed sheet 1, or one booked only after the sheets came out again, does
    not explain sheet 1 fed twice."""
    state, config, name, piece, _ = restart_scene(
        finished, tmp_path, event="resumed", recorded=False, **scene
    )
    report = check_run(state, config, audit=False)
    double_print(report, name, piece)


def attested_scene(finished, tmp_path, parked_from: str | None):
    """The clean run with one job's hand-over (its → SPOOLED event) unknown to the ledger, as for a job parked
    before its hand-over was recorded; with ``parked_from``, the operator's ``operator_printed`` event
    (parked from that state) attests it."""
    state = tmp_path / "state"
    shutil.copytree(finished[0], state, ignore=shutil.ignore_patterns("*.sock"))
    engine = create_engine(f"sqlite:///{state / 'ledger.sqlite'}")
    with engine.begin() as conn:
        job = conn.execute(text("SELECT job_id FROM print_jobs ORDER BY job_id LIMIT 1")).scalar_one()
        conn.execute(
            text("DELETE FROM events WHERE entity = 'job' AND entity_id = :job AND to_state = 'SPOOLED'"),
            {"job": job},
        )
        if parked_from is not None:
            conn.execute(
                text(
                    "INSERT INTO events (at, entity, entity_id, event, from_state, to_state, data) "
                    "VALUES (:at, 'job', :job, 'operator_printed', 'PARKED', 'PRINTED', :data)"
                ),
                {"at": time.time(), "job": job, "data": json.dumps({"parked_from": parked_from})},
            )
    engine.dispose()
    return state, finished[1], job


def test_an_operator_who_marks_a_parked_job_printed_attests_its_hand_over(finished, tmp_path):
    """Paper a press printed for a job the ledger never saw handed over is a double print, unless the
    operator marked the job printed from parking before its hand-over (parked from SPOOLING): that attests
    the one hand-over. Marked printed from SPOOLED (the hand-over already counted) attests nothing more."""
    state, config, job = attested_scene(finished, tmp_path / "none", None)
    report = check_run(state, config, audit=False)
    assert "double_print" in {f.kind for f in report.findings}, report.summary()
    assert job in " ".join(next(f for f in report.findings if f.kind == "double_print").ids)

    state, config, _ = attested_scene(finished, tmp_path / "spooling", "SPOOLING")
    report = check_run(state, config, audit=False)
    assert report.held, report.summary()

    state, config, _ = attested_scene(finished, tmp_path / "spooled", "SPOOLED")
    report = check_run(state, config, audit=False)
    assert "double_print" in {f.kind for f in report.findings}, report.summary()
