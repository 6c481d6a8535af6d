"""The cutter and the inserter keep their own books: every leaf cut and every envelope cycle, so a checker
can count at the devices (a cut or an envelope done twice after a crash shows twice)."""

from __future__ import annotations

import pytest

from imposition import Layout, Scheme, SheetSize
from inserters import CutFaults, CutJob, Outcome, SimulatedCutter, SimulatedInserter
from inserters import cutter as cutter_module
from inserters import simulated as inserter_module
from printers.books import read_books
from tests.inserters.test_cutter import JOB, imposed
from tests.inserters.test_simulated_inserter import Clock, run_of


class Crash(Exception):
    """The device process died here."""


def crash_when_writing(monkeypatch, module, folder_name: str) -> None:
    """Make ``module``'s device die when it writes a file into ``folder_name``/ (once)."""
    real = module.atomic_write

    def write(path, data, exclusive=False):
        if path.parent.name == folder_name:
            monkeypatch.setattr(module, "atomic_write", real)
            raise Crash(path)
        return real(path, data, exclusive)

    monkeypatch.setattr(module, "atomic_write", write)


def test_the_cutters_books_list_every_leaf_and_every_lost_sheet(tmp_path):
    """A cut with a destroyed sheet: the books hold one record per leaf that came out (none from the lost
    sheet), the lost sheet itself, and the cut's start and end."""
    sheets, spec, _ = imposed(tmp_path, Layout(Scheme.CUT_STACK, SheetSize.A3, stack_depth=3))
    cutter = SimulatedCutter("cutter", tmp_path / "cutter", time_scale=0, faults=CutFaults(destroy_at={2}))
    cutter.submit(CutJob("R1", JOB, sheets, spec))
    cutter.step()
    result = cutter.result("R1")
    leaves = cutter.books("leaf")
    assert len(leaves) == result.leaves == spec.leaf_count - 2
    assert [leaf["n"] for leaf in leaves] == list(range(1, result.leaves + 1))
    assert set(cutter.leaf_counts(JOB).values()) == {1} and all(leaf["sheet"] != 2 for leaf in leaves)
    assert [(s["sheet"], s["outcome"]) for s in cutter.books("sheet")] == [(2, "destroyed")]
    assert [(c["event"], c["cut"]) for c in cutter.books("cut")] == [("started", "R1"), ("finished", "R1")]
    assert read_books(tmp_path / "cutter") == cutter.books()


def test_a_cut_done_again_after_a_crash_shows_every_leaf_twice(tmp_path, monkeypatch):
    """The cutter dies after its leaves came out but before it wrote the result: the restarted cutter cuts
    the job again, and its books show each leaf twice and the restart."""
    sheets, spec, _ = imposed(tmp_path, Layout(Scheme.CUT_STACK, SheetSize.A3, stack_depth=3))
    first = SimulatedCutter("cutter", tmp_path / "cutter", time_scale=0)
    first.submit(CutJob("R1", JOB, sheets, spec))
    crash_when_writing(monkeypatch, cutter_module, "results")
    with pytest.raises(Crash):
        first.step()
    again = SimulatedCutter("cutter", tmp_path / "cutter", time_scale=0)
    assert again.step() == 1
    assert set(again.leaf_counts().values()) == {2} and len(again.leaf_counts()) == spec.leaf_count
    assert [c["event"] for c in again.books("cut")] == ["started", "finished", "restarted", "finished"]


def test_the_inserters_books_list_every_envelope(tmp_path):
    """Every machine cycle is booked with its piece and outcome: inserted pieces once each, a piece whose
    sheet was dropped diverted, and the run's start and end with its counts."""
    codes = ["J000007|1|1/1", "J000007|2|1/2", "J000007|3|1/1"]  # piece 2's second sheet never arrives
    run = run_of(tmp_path, {"1": 1, "2": 2, "3": 1}, codes=codes)
    inserter = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    inserter.submit(run)
    inserter.step()
    result = {r.piece_id: r.outcome for r in inserter.result("R1").results}
    envelopes = inserter.books("envelope")
    assert [(e["cycle"], e["piece"], e["outcome"]) for e in envelopes] == [
        (1, "1", "inserted"),
        (2, "2", result["2"].value),
        (3, "3", "inserted"),
    ]
    assert [e["machine_envelope"] for e in envelopes] == [1, 2, 3]
    assert inserter.envelope_counts() == {"1": 1, "3": 1} and result["2"] is not Outcome.INSERTED
    runs = [(r["event"], r["run"]) for r in inserter.books("run")]
    assert runs == [("started", "R1"), ("finished", "R1")]
    assert inserter.books("run")[-1]["inserted"] == 2
    assert read_books(tmp_path / "dev", "envelope") == envelopes


def test_envelopes_booked_before_a_crash_are_not_done_again(tmp_path, monkeypatch):
    """The inserter dies after an envelope went through (booked) but before its progress was saved: the
    restarted machine counts from its books, which a restart cannot roll back, and does not envelope that
    piece again."""
    clock = Clock()
    options = dict(envelopes_per_hour=3600, time_scale=1.0, clock=clock)
    first = SimulatedInserter("ins", tmp_path / "dev", **options)
    first.submit(run_of(tmp_path, {"1": 1, "2": 1, "3": 1, "4": 1}))
    first.step()
    clock.now = 2.0
    first.step()  # envelopes 1 and 2, saved
    clock.now = 3.0
    crash_when_writing(monkeypatch, inserter_module, "progress")
    with pytest.raises(Crash):
        first.step()  # envelope 3 went through; its progress never saved
    again = SimulatedInserter("ins", tmp_path / "dev", **options)
    again.step()
    clock.now = 10.0
    again.step()
    assert again.result("R1").finished
    assert again.envelope_counts() == {"1": 1, "2": 1, "3": 1, "4": 1}
    assert [r["event"] for r in again.books("run")] == ["started", "resumed", "finished"]
    machine = [e["machine_envelope"] for e in again.books("envelope")]
    assert machine == sorted(set(machine))  # each cycle has its own machine-lifetime number
