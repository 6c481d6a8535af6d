"""The simulated inserter: the folder protocol, every outsort case on real renderings, speed, faults,
restarts."""

from __future__ import annotations

import json

import pytest

from inserters import (
    BadRunId,
    DuplicateRun,
    Faults,
    InserterKind,
    MailRun,
    Outcome,
    RunRecord,
    RunRejected,
    SimulatedInserter,
    UnknownInserterKind,
    UnknownRun,
    make_inserter,
)
from inserters.mailrun import DEFAULT_LAYOUT
from tests.inserters.stacks import ZONE, make_stack, sheets_of

JOB = "J000007"


class Clock:
    """A device clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_of(tmp_path, pieces: dict[str, int], codes=None, run_id="R1", records=None) -> MailRun:
    """A run of ``pieces`` (id → sheets) whose stack holds ``codes`` (default: every sheet in order)."""
    stack = make_stack(tmp_path / f"{run_id}.pdf", codes if codes is not None else sheets_of(JOB, pieces))
    records = records or tuple(RunRecord(p, n) for p, n in pieces.items())
    return MailRun(run_id, JOB, tuple(records), stack, ZONE)


def finish(tmp_path, run: MailRun, **options):
    """Submit ``run`` to an instantaneous inserter, step once, and return its finished result."""
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0, **options)
    inserter.submit(run)
    inserter.step()
    result = inserter.result(run.run_id)
    assert result.finished
    assert [r.piece_id for r in result.results] == [r.piece_id for r in run.records], "one result per record"
    return result


def by_piece(result):
    """(outcome, reason) per piece id."""
    return {r.piece_id: (r.outcome, r.reason) for r in result.results}


def test_clean_run_inserts_everything_and_results_round_trip(tmp_path):
    """A clean stack: every piece INSERTED; the result file read back gives the same results."""
    result = finish(tmp_path, run_of(tmp_path, {"1": 2, "2": 1, "3": 3}))
    assert [(r.piece_id, r.outcome, r.sheets_read) for r in result.results] == [
        ("1", Outcome.INSERTED, 2),
        ("2", Outcome.INSERTED, 1),
        ("3", Outcome.INSERTED, 3),
    ]
    assert result.reprint == ()
    assert DEFAULT_LAYOUT.read_results(tmp_path / "dev" / "results" / "R1.csv") == result.results


def test_submitted_run_is_unfinished_until_the_device_steps(tmp_path):
    """Before the device works on it, a submitted run is found but not finished."""
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    inserter.submit(run_of(tmp_path, {"1": 1}))
    assert inserter.find("R1").finished is False


def test_dropped_sheet_diverts_and_lists_for_reprint(tmp_path):
    """A sheet lost from the stack diverts its piece as 'sheet 2/3 missing'; it alone is reprinted."""
    codes = sheets_of(JOB, {"1": 3, "2": 1})
    del codes[1]
    result = finish(tmp_path, run_of(tmp_path, {"1": 3, "2": 1}, codes))
    assert by_piece(result) == {"1": (Outcome.DIVERTED, "sheet 2/3 missing"), "2": (Outcome.INSERTED, "")}
    assert result.reprint == ("1",)


def test_out_of_sequence_sheet_diverts(tmp_path):
    """Sheets 1, 3, 2 of a piece: diverted as out of sequence."""
    codes = [f"{JOB}|1|1/3", f"{JOB}|1|3/3", f"{JOB}|1|2/3"]
    result = finish(tmp_path, run_of(tmp_path, {"1": 3}, codes))
    assert by_piece(result)["1"] == (Outcome.DIVERTED, "sheet out of sequence: got 3/3 after 1/3")


def test_unreadable_code_diverts_naming_the_sheet(tmp_path):
    """A sheet whose zone holds no code diverts its piece, naming the sheet's place in the stack."""
    codes = [f"{JOB}|1|1/1", f"{JOB}|2|1/2", None, f"{JOB}|3|1/1"]
    result = finish(tmp_path, run_of(tmp_path, {"1": 1, "2": 2, "3": 1}, codes))
    assert by_piece(result)["2"] == (Outcome.DIVERTED, "unreadable control code on sheet 3 of the stack")
    assert result.reprint == ("2",)


def test_duplicate_piece_is_inserted_once(tmp_path):
    """A piece printed twice is inserted once and its second copy outsorted as a duplicate."""
    codes = sheets_of(JOB, {"1": 1}) * 2
    result = finish(tmp_path, run_of(tmp_path, {"1": 1}, codes))
    assert by_piece(result) == {"1": (Outcome.INSERTED, "")}
    assert [(o.piece_id, o.reason) for o in result.outsorted] == [
        ("1", "duplicate piece: already inserted in this run")
    ]


def test_piece_not_in_run_data_is_outsorted(tmp_path):
    """Sheets of a piece the run data does not list are outsorted; the listed piece is inserted."""
    result = finish(tmp_path, run_of(tmp_path, {"1": 1}, sheets_of(JOB, {"9": 1, "1": 1})))
    assert by_piece(result) == {"1": (Outcome.INSERTED, "")}
    assert [(o.piece_id, o.reason) for o in result.outsorted] == [("9", "not in mail run data")]


def test_divert_flag_diverts(tmp_path):
    """A record flagged divert is diverted although complete."""
    records = (RunRecord("1", 1, divert=True), RunRecord("2", 1))
    result = finish(tmp_path, run_of(tmp_path, {"1": 1, "2": 1}, records=records))
    assert by_piece(result)["1"] == (Outcome.DIVERTED, "divert flag set")


def test_too_many_sheets_for_the_envelope_diverts(tmp_path):
    """A 4-sheet piece on an inserter taking 3 is diverted, saying both numbers."""
    result = finish(tmp_path, run_of(tmp_path, {"1": 4, "2": 1}), max_sheets=3)
    assert by_piece(result)["1"] == (Outcome.DIVERTED, "4 sheets exceed the 3 this envelope takes")


def test_piece_with_no_sheet_is_missing(tmp_path):
    """A record none of whose sheets is in the stack is MISSING and reprinted."""
    result = finish(tmp_path, run_of(tmp_path, {"1": 1, "2": 2}, sheets_of(JOB, {"1": 1})))
    assert by_piece(result)["2"] == (Outcome.MISSING, "no sheet of the piece arrived")
    assert result.reprint == ("2",)


def test_unreadable_stack_makes_every_piece_missing(tmp_path):
    """A sheets file that is not a PDF: no sheet arrives, every record is MISSING."""
    run = run_of(tmp_path, {"1": 1, "2": 1})
    run.sheets_pdf.write_bytes(b"not a pdf")
    result = finish(tmp_path, run)
    assert {r.outcome for r in result.results} == {Outcome.MISSING}


def test_jam_damages_the_pieces_in_the_track(tmp_path):
    """A jam at envelope 2 damages it and the piece behind it; both are reprinted."""
    result = finish(tmp_path, run_of(tmp_path, {"1": 1, "2": 2, "3": 1, "4": 1}), faults=Faults(jam_at={2}))
    assert [r.outcome for r in result.results] == [
        Outcome.INSERTED,
        Outcome.DAMAGED,
        Outcome.DAMAGED,
        Outcome.INSERTED,
    ]
    assert result.reprint == ("2", "3")


def test_operator_removal_is_removed(tmp_path):
    """A piece the operator pulls is REMOVED and reprinted."""
    result = finish(tmp_path, run_of(tmp_path, {"1": 1, "2": 1}), faults=Faults(remove_pieces={"2"}))
    assert by_piece(result)["2"] == (Outcome.REMOVED, "removed by the operator")
    assert result.reprint == ("2",)


def test_speed_follows_envelopes_per_hour_on_device_time(tmp_path):
    """3 envelopes at 3,600/h take 3 device seconds: not done at 2.9 s, done at 3 s."""
    clock = Clock()
    inserter = SimulatedInserter(
        "ins", tmp_path / "dev", envelopes_per_hour=3600, time_scale=1.0, clock=clock
    )
    inserter.submit(run_of(tmp_path, {"1": 1, "2": 1, "3": 1}))
    inserter.step()
    clock.now = 2.9
    inserter.step()
    assert not inserter.result("R1").finished
    clock.now = 3.0
    inserter.step()
    assert inserter.result("R1").finished


def test_time_scale_stretches_wall_time(tmp_path):
    """At time_scale 0.5 the same 3 envelopes take 1.5 wall seconds."""
    clock = Clock()
    inserter = SimulatedInserter(
        "ins", tmp_path / "dev", envelopes_per_hour=3600, time_scale=0.5, clock=clock
    )
    inserter.submit(run_of(tmp_path, {"1": 1, "2": 1, "3": 1}))
    inserter.step()
    clock.now = 1.5
    assert inserter.step() == 3


def test_progress_shows_the_pieces_done_so_far(tmp_path):
    """Mid-run the result is unfinished, holds the pieces enveloped so far and no reprint list yet."""
    clock = Clock()
    inserter = SimulatedInserter(
        "ins", tmp_path / "dev", envelopes_per_hour=3600, time_scale=1.0, clock=clock
    )
    inserter.submit(run_of(tmp_path, {"1": 1, "2": 1, "3": 1}))
    inserter.step()
    clock.now = 2.0
    inserter.step()
    result = inserter.result("R1")
    assert (result.finished, [r.piece_id for r in result.results], result.reprint) == (False, ["1", "2"], ())


def test_restart_mid_run_resumes_without_repeating_envelopes(tmp_path):
    """A new device on the folder resumes a half-done run: it needs only the remaining envelopes' time."""
    clock = Clock()
    options = dict(envelopes_per_hour=3600, time_scale=1.0, clock=clock)
    first = SimulatedInserter("ins", tmp_path / "dev", **options)
    first.submit(run_of(tmp_path, {"1": 1, "2": 1, "3": 1, "4": 1}))
    first.step()
    clock.now = 2.0
    first.step()
    again = SimulatedInserter("ins", tmp_path / "dev", **options)
    again.step()
    clock.now = 4.0
    assert again.step() == 2 and again.result("R1").finished


def test_finished_run_is_not_processed_again_after_restart(tmp_path):
    """A new device on the same folder leaves a finished run alone (its results file is untouched)."""
    first = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    first.submit(run_of(tmp_path, {"1": 1}))
    first.step()
    results = tmp_path / "dev" / "results" / "R1.json"
    stamp = results.stat().st_mtime_ns
    again = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    assert again.step() == 0
    assert results.stat().st_mtime_ns == stamp and again.result("R1").finished


def test_runs_are_worked_in_submission_order(tmp_path):
    """Two runs on a slow device: the first submitted finishes first."""
    clock = Clock()
    inserter = SimulatedInserter(
        "ins", tmp_path / "dev", envelopes_per_hour=3600, time_scale=1.0, clock=clock
    )
    inserter.submit(run_of(tmp_path, {"1": 1}, run_id="R2"))
    inserter.submit(run_of(tmp_path, {"1": 1}, run_id="R1"))
    inserter.step()
    clock.now = 1.0
    inserter.step()
    assert (inserter.result("R2").finished, inserter.result("R1").finished) == (True, False)


def test_duplicate_run_is_refused(tmp_path):
    """Submitting a run id twice raises DuplicateRun."""
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    run = run_of(tmp_path, {"1": 1})
    inserter.submit(run)
    with pytest.raises(DuplicateRun, match="already has run R1"):
        inserter.submit(run)


def test_unknown_run_is_not_found(tmp_path):
    """find() answers None for a run never sent; result() raises UnknownRun."""
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    assert inserter.find("R9") is None
    with pytest.raises(UnknownRun):
        inserter.result("R9")


def test_run_id_that_is_not_a_file_name_is_refused(tmp_path):
    """A run id with a path separator is refused before anything is written."""
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    with pytest.raises(BadRunId):
        inserter.submit(MailRun("../R1", JOB, (), tmp_path / "x.pdf", ZONE))


def test_malformed_run_data_in_the_folder_rejects_the_run(tmp_path):
    """A run whose data file was damaged is rejected; the host is told which file, line and field."""
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    inserter.submit(run_of(tmp_path, {"1": 1}))
    data = tmp_path / "dev" / "runs" / "R1.csv"
    data.write_text("piece_id,sheets,feeder_selects,divert,envelope_text\n1,one,,0,\n")
    inserter.step()
    with pytest.raises(RunRejected, match=r"R1\.csv line 2, field 'sheets'"):
        inserter.result("R1")


def test_header_names_job_pdf_and_zone(tmp_path):
    """The run header the driver writes carries the job id, the sheets PDF and the control zone."""
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    run = run_of(tmp_path, {"1": 1})
    inserter.submit(run)
    header = json.loads((tmp_path / "dev" / "runs" / "R1.json").read_text())
    assert (header["job_id"], header["sheets_pdf"], header["control_zone"]) == (
        JOB,
        str(run.sheets_pdf.resolve()),
        list(ZONE),
    )


def test_factory_builds_a_simulated_inserter(tmp_path):
    """make_inserter('simulated', ...) gives a SimulatedInserter with the options passed."""
    inserter = make_inserter("simulated", "ins", folder=tmp_path / "dev", max_sheets=4)
    assert isinstance(inserter, SimulatedInserter) and inserter.max_sheets == 4
    assert make_inserter(InserterKind.SIMULATED, "b", folder=tmp_path / "b").name == "b"


def test_factory_refuses_an_unknown_kind(tmp_path):
    """An unknown kind is refused naming the known ones."""
    with pytest.raises(UnknownInserterKind, match="simulated"):
        make_inserter("bowe", "ins", folder=tmp_path)
