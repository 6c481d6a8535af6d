"""PRINTED and INSERTED on the inserter's reads, not its word alone: a result file with a short read, a
duplicate row or a piece id not in the run is flagged on the run and its pieces go to the operator
(UNACCOUNTED with a reason) — never counted twice, never dropped; a clean result reconciles as before.

The results are the simulated inserter's own file (``results/<run>.csv``), edited between the run's end and
the plant's reading of it, as a faulty device or its software would write it."""

from __future__ import annotations

import csv
from collections.abc import Callable

import pytest
from sqlalchemy import select

from inserters import Outcome, PieceResult
from inserters.mailrun import check_results
from plant.ledger import schema as t
from plant.stages.impose import impose
from plant.stages.insert import follow_insert, insert
from plant.stages.spool import follow_print, spool
from plant.testing import device_name
from printers.drivers.simulated import SimulatedPress
from tests.plant.operating import close_plant, events, job_members, jobs, open_plant, pieces, planned, rows

Rows = list[dict[str, str]]


@pytest.fixture
def plant(settings, small_batch):
    current = open_plant(settings, small_batch)
    yield current
    close_plant(current)


# -- helpers (also used by the reconciliation-queue tests) -------------------------------------------------
def printed_run(plant, job_id: str) -> str:
    """Impose and spool a job, let its press print it, follow it; its insert run's id."""
    impose(job_id)
    spool(job_id)
    job = jobs(plant, t.print_jobs.c.job_id == job_id)[0]
    config = next(p for p in plant.settings.printers if p.name == job.printer)
    SimulatedPress(job.printer, plant.settings.printer_folder(config), 6000, time_scale=0).step()
    follow_print(job_id)
    return rows(plant, select(t.insert_runs.c.run_id).where(t.insert_runs.c.job_id == job_id))[0].run_id


def envelope(plant, run_id: str, edit: Callable[[Rows], Rows] | None = None) -> None:
    """Hand the run to its inserter and let it work; ``edit`` the result file it wrote; reconcile."""
    insert(run_id)
    (run,) = rows(plant, select(t.insert_runs).where(t.insert_runs.c.run_id == run_id))
    inserter = plant.inserters[run.inserter]
    inserter.step()
    if edit is not None:
        path = inserter.folder / "results" / f"{device_name(plant, run_id)}.csv"
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            fields, found = reader.fieldnames, list(reader)
        edited = edit(found)
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(edited)
    follow_insert(run_id)


def a_job(plant) -> tuple[str, list[int]]:
    """A planned job of at least two pieces and its piece ids (the batch planned)."""
    planned(plant)
    job = next(j for j in jobs(plant) if len(job_members(plant, j.job_id)) >= 2)
    return job.job_id, job_members(plant, job.job_id)


def run_events(plant, run_id: str, name: str) -> list:
    return rows(
        plant,
        select(t.events).where(
            t.events.c.entity == "run", t.events.c.entity_id == run_id, t.events.c.event == name
        ),
    )


def piece(plant, piece_id: int):
    (found,) = pieces(plant, t.pieces.c.piece_id == piece_id)
    return found


# -- the checks --------------------------------------------------------------------------------------------
def test_a_clean_result_reconciles_as_before(plant):
    """Every piece of an untouched result is INSERTED, read once and inserted once; no defect recorded."""
    job_id, members = a_job(plant)
    run_id = printed_run(plant, job_id)
    envelope(plant, run_id)
    assert {piece(plant, m).state for m in members} == {"INSERTED"}
    for m in members:
        assert events(plant, piece(plant, m).pk)[-2:] == ["read_downstream", "insert"]
    assert run_events(plant, run_id, "result_defects") == []


def test_inserted_with_a_sheet_short_goes_to_the_operator(plant):
    """ "inserted" with fewer sheets read than the piece's leaves: UNACCOUNTED with the reads in the reason,
    flagged on the run; the other piece is inserted."""
    job_id, members = a_job(plant)
    short, other = members[0], members[1]
    run_id = printed_run(plant, job_id)

    def lose_a_sheet(found: Rows) -> Rows:
        for row in found:
            if row["piece_id"] == str(short):
                row["sheets_read"] = str(int(row["sheets_read"]) - 1)
        return found

    envelope(plant, run_id, lose_a_sheet)
    target = piece(plant, short)
    assert (target.state, target.reason_code) == ("UNACCOUNTED", "UNACCOUNTED")
    assert "says inserted" in target.reason and "plant reconcile" in target.reason
    assert "insert" not in events(plant, target.pk) and events(plant, target.pk).count("lose") == 1
    assert piece(plant, other).state == "INSERTED"
    (defects,) = run_events(plant, run_id, "result_defects")
    assert list(defects.data["short"]) == [str(short)]


def test_a_duplicate_result_row_is_flagged_and_not_counted_twice(plant):
    """Two rows for one piece (both "inserted"): the piece is UNACCOUNTED (never INSERTED, never twice), the
    run's event lists both rows; the other piece is inserted."""
    job_id, members = a_job(plant)
    twice, other = members[0], members[1]
    run_id = printed_run(plant, job_id)
    envelope(plant, run_id, lambda found: found + [dict(r) for r in found if r["piece_id"] == str(twice)])
    target = piece(plant, twice)
    assert target.state == "UNACCOUNTED" and "2 results for the piece" in target.reason
    assert events(plant, target.pk).count("insert") == 0 and events(plant, target.pk).count("lose") == 1
    assert piece(plant, other).state == "INSERTED"
    (defects,) = run_events(plant, run_id, "result_defects")
    assert [r["outcome"] for r in defects.data["duplicates"][str(twice)]] == ["inserted", "inserted"]


def test_a_result_for_a_piece_not_in_the_run_is_flagged(plant):
    """A row naming a piece id the run does not have is recorded on the run (never dropped unseen); the
    run's own pieces reconcile on their own rows."""
    job_id, members = a_job(plant)
    run_id = printed_run(plant, job_id)
    stray = {"piece_id": "999999", "outcome": "inserted", "reason": "", "sheets_read": "1"}
    envelope(plant, run_id, lambda found: found + [stray])
    assert {piece(plant, m).state for m in members} == {"INSERTED"}
    (defects,) = run_events(plant, run_id, "result_defects")
    assert defects.data["unknown"] == [{**stray, "sheets_read": 1}]


def test_a_piece_renamed_in_the_results_goes_to_the_operator_naming_the_stranger(plant):
    """A piece whose row carries another id: the piece has no result (UNACCOUNTED, the reason naming the
    unknown id), the unknown row is flagged on the run."""
    job_id, members = a_job(plant)
    renamed = members[0]
    run_id = printed_run(plant, job_id)

    def rename(found: Rows) -> Rows:
        for row in found:
            if row["piece_id"] == str(renamed):
                row["piece_id"] = "424242"
        return found

    envelope(plant, run_id, rename)
    target = piece(plant, renamed)
    assert target.state == "UNACCOUNTED" and "424242" in target.reason
    assert [r["piece_id"] for r in run_events(plant, run_id, "result_defects")[0].data["unknown"]] == [
        "424242"
    ]


def test_check_results_sorts_every_row():
    """The library's check: every row is single, duplicated or unknown; "inserted" counts with all sheets."""
    checked = check_results(
        {"1": 2, "2": 1, "3": 1},
        [
            PieceResult("1", Outcome.INSERTED, "", 1),
            PieceResult("2", Outcome.INSERTED, "", 1),
            PieceResult("2", Outcome.DAMAGED, "jam", 1),
            PieceResult("3", Outcome.INSERTED, "", 1),
            PieceResult("9", Outcome.INSERTED, "", 1),
        ],
    )
    assert not checked.clean
    assert set(checked.single) == {"1", "3"} and set(checked.duplicates) == {"2"}
    assert [r.piece_id for r in checked.unknown] == ["9"] and set(checked.short) == {"1"}
    assert [p for p in "123" if checked.inserted(p)] == ["3"]
    assert check_results({"1": 1}, [PieceResult("1", Outcome.INSERTED, "", 1)]).clean
