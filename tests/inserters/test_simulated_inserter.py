"""The simulated inserter: a camera on real renderings, the folder protocol, speed, faults and restarts."""

from __future__ import annotations

import pytest

from inserters import DuplicateRun, MailRun, MailRunFileError, Outcome, RunRecord, SimulatedInserter, UnknownRun
from inserters.camera import read_sheets
from inserters.mailrun import DEFAULT_LAYOUT
from tests.inserters.stacks import ZONE, make_stack, sheets_of

JOB = "J000007"


class Clock:
    """A device clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_of(tmp_path, pieces: dict[str, int], codes=None, run_id="R1", **record_options) -> MailRun:
    stack = make_stack(tmp_path / f"{run_id}.pdf", codes if codes is not None else sheets_of(JOB, pieces))
    records = tuple(RunRecord(p, n, **record_options) for p, n in pieces.items())
    return MailRun(run_id, JOB, records, stack, ZONE)


def test_camera_reads_every_sheet_and_none_for_an_empty_zone(tmp_path):
    """Rendering only the control zone with PDFium, zxing-cpp reads each code; an empty zone reads None."""
    stack = make_stack(tmp_path / "s.pdf", [f"{JOB}|1|1/2", None, f"{JOB}|1|2/2"])
    assert read_sheets(stack, ZONE) == [f"{JOB}|1|1/2", None, f"{JOB}|1|2/2"]


def test_clean_run_inserts_everything_and_results_round_trip(tmp_path):
    """A clean stack: every piece INSERTED; the result file read back gives the same results."""
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    inserter.submit(run_of(tmp_path, {"1": 2, "2": 1, "3": 3}))
    assert inserter.result("R1").finished is False
    inserter.step()
    result = inserter.result("R1")
    assert result.finished and result.reprint == ()
    assert [(r.piece_id, r.outcome, r.sheets_read) for r in result.results] == [
        ("1", Outcome.INSERTED, 2), ("2", Outcome.INSERTED, 1), ("3", Outcome.INSERTED, 3)]
    assert DEFAULT_LAYOUT.read_results(tmp_path / "dev" / "results" / "R1.csv") == result.results


def test_dropped_sheet_diverts_and_lists_for_reprint(tmp_path):
    """A sheet lost from the stack diverts its piece, which is listed for reprint."""
    codes = sheets_of(JOB, {"1": 3, "2": 1})
    del codes[1]
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    inserter.submit(run_of(tmp_path, {"1": 3, "2": 1}, codes))
    inserter.step()
    result = inserter.result("R1")
    assert result.reprint == ("1",)
    assert result.results[0].reason == "sheet out of sequence: got 3/3 after 1/3"


def test_jam_damages_and_removal_removes(tmp_path):
    """Configured faults: a jammed piece is DAMAGED, an operator-removed one REMOVED; both reprint."""
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0, jam_pieces=["2"], remove_pieces=["3"])
    inserter.submit(run_of(tmp_path, {"1": 1, "2": 1, "3": 1}))
    inserter.step()
    outcomes = {r.piece_id: r.outcome for r in inserter.result("R1").results}
    assert outcomes == {"1": Outcome.INSERTED, "2": Outcome.DAMAGED, "3": Outcome.REMOVED}
    assert inserter.result("R1").reprint == ("2", "3")


def test_speed_follows_envelopes_per_hour_on_device_time(tmp_path):
    """3 envelopes at 3,600/h take 3 device seconds: not done at 2.9 s, done at 3 s."""
    clock = Clock()
    inserter = SimulatedInserter("ins", tmp_path / "dev", envelopes_per_hour=3600, time_scale=1.0, clock=clock)
    inserter.submit(run_of(tmp_path, {"1": 1, "2": 1, "3": 1}))
    inserter.step()
    clock.now = 2.9
    inserter.step()
    assert not inserter.result("R1").finished
    clock.now = 3.0
    inserter.step()
    assert inserter.result("R1").finished


def test_duplicate_run_is_refused_and_unknown_run_named(tmp_path):
    """Submitting a run id twice raises DuplicateRun; asking for an unknown run raises UnknownRun."""
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    run = run_of(tmp_path, {"1": 1})
    inserter.submit(run)
    with pytest.raises(DuplicateRun, match="already has run R1"):
        inserter.submit(run)
    assert inserter.find("R9") is None
    with pytest.raises(UnknownRun):
        inserter.result("R9")


def test_finished_run_is_not_processed_again_after_restart(tmp_path):
    """A new device on the same folder leaves a finished run alone (its results file is untouched)."""
    first = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    first.submit(run_of(tmp_path, {"1": 1}))
    first.step()
    results = tmp_path / "dev" / "results" / "R1.json"
    stamp = results.stat().st_mtime_ns
    again = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    again.step()
    assert results.stat().st_mtime_ns == stamp
    assert again.result("R1").finished


@pytest.mark.parametrize(("content", "field"), [
    ("piece_id,sheets,feeder_selects,divert,envelope_text\n1,x,,0,\n", "sheets"),
    ("piece_id,sheets,feeder_selects,divert,envelope_text\n1,1,,maybe,\n", "divert"),
    ("piece_id,sheets,divert\n1,1,0\n", "feeder_selects"),
    ("piece_id,sheets,feeder_selects,divert,envelope_text\n,1,,0,\n", "piece_id"),
])
def test_malformed_run_data_names_file_line_and_field(tmp_path, content, field):
    """A malformed mail run data file is refused naming the file, the line and the field."""
    path = tmp_path / "run.csv"
    path.write_text(content)
    with pytest.raises(MailRunFileError) as info:
        DEFAULT_LAYOUT.read_run(path)
    assert info.value.field == field and str(path) in str(info.value)
