"""The inserter's machine status (idle, processing, stopped for an operator with reasons and a remedy), the
simulated inserter's stops and clears, and its withdrawal of a run it provably never started."""

from __future__ import annotations

import json

import pytest

from inserters import (
    Inserter,
    InserterState,
    InserterStatus,
    InserterStopped,
    MachineStatusUnreadable,
    MailRun,
    RunRecord,
    SimulatedInserter,
    Withdrawable,
    remedy_for,
)
from inserters.errors import DEFAULT_REMEDY
from inserters.simulated import machine_status_from
from tests.inserters.stacks import ZONE, make_stack, sheets_of

JOB = "J000007"
#: Four one-sheet pieces: four envelopes.
FOUR = {"1": 1, "2": 1, "3": 1, "4": 1}


class Clock:
    """A device clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_of(tmp_path, pieces: dict[str, int], run_id="R1") -> MailRun:
    """A run of ``pieces`` (id → sheets) whose stack holds every sheet in order."""
    stack = make_stack(tmp_path / f"{run_id}.pdf", sheets_of(JOB, pieces))
    return MailRun(run_id, JOB, tuple(RunRecord(p, n) for p, n in pieces.items()), stack, ZONE)


def slow(tmp_path, clock, **options) -> SimulatedInserter:
    """An inserter doing one envelope per device second on ``clock``."""
    return SimulatedInserter(
        "ins", tmp_path / "dev", envelopes_per_hour=3600, time_scale=1.0, clock=clock, **options
    )


# -- the status mapping --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("record", "queued", "state", "reasons"),
    [
        (None, 0, InserterState.IDLE, ()),  # no status file, nothing queued
        (None, 2, InserterState.PROCESSING, ()),  # no status file, runs queued
        ({"state": "running", "reasons": []}, 0, InserterState.IDLE, ()),
        ({"state": "running"}, 1, InserterState.PROCESSING, ()),
        ({"state": "processing"}, 0, InserterState.IDLE, ()),  # a running machine is judged by its queue
        ({"state": "stopped", "reasons": ["envelope-jam"]}, 3, InserterState.STOPPED, ("envelope-jam",)),
        ({"state": "stopped"}, 0, InserterState.STOPPED, ()),
    ],
)
def test_the_machine_status_file_maps_to_a_state(record, queued, state, reasons):
    """stopped (with its reasons) whatever the queue; otherwise idle or processing by the runs it holds."""
    assert machine_status_from("ins-2", record, queued) == InserterStatus("ins-2", state, reasons, queued)


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        ({"state": "jammed"}, "unknown state 'jammed'"),
        ({"state": "stopped", "reasons": "envelope-jam"}, "reasons must be a list"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_a_malformed_machine_status_is_unreadable_naming_the_file(record, detail):
    with pytest.raises(MachineStatusUnreadable, match=detail) as info:
        machine_status_from("ins-2", record, 0, "/dev/ins-2/machine.json")
    assert "/dev/ins-2/machine.json" in str(info.value) and "check the inserter's status writer" in str(
        info.value
    )


@pytest.mark.parametrize(
    ("reasons", "remedy"),
    [
        (
            ("envelope-jam",),
            "take the jammed envelope out of the track, then clear the stop on the inserter's panel",
        ),
        (("cover-open-warning",), "close the cover, then clear the stop"),  # severity suffix dropped
        (
            ("something-new", "envelopes-empty"),
            "refill the envelope hopper, then clear the stop",
        ),  # first known
        (("something-new",), DEFAULT_REMEDY),
        ((), DEFAULT_REMEDY),
    ],
)
def test_every_stop_reason_comes_with_a_remedy(reasons, remedy):
    assert remedy_for(reasons) == remedy


def test_a_stopped_status_says_why_and_what_to_do():
    """The message names the inserter, its reasons and the fix; raise_if_stopped raises it; running: no
    message."""
    stopped = InserterStatus("ins-2", InserterState.STOPPED, ("envelope-jam",), 1)
    assert stopped.message == (
        "Inserter 'ins-2' is stopped (envelope-jam); take the jammed envelope out of the "
        "track, then clear the stop on the inserter's panel."
    )
    with pytest.raises(InserterStopped) as info:
        stopped.raise_if_stopped()
    assert (info.value.inserter, info.value.reasons) == ("ins-2", ("envelope-jam",))
    assert InserterStatus("ins-2", InserterState.STOPPED, (), 0).message.startswith(
        "Inserter 'ins-2' is stopped (no reason given); check the inserter's panel"
    )
    running = InserterStatus("ins-2", InserterState.IDLE, (), 0)
    assert running.message == "" and running.raise_if_stopped() is None


def test_the_simulated_inserter_plays_both_roles(tmp_path):
    """It is an Inserter (with machine_status) and a Withdrawable one."""
    inserter = SimulatedInserter("ins", tmp_path / "dev")
    assert isinstance(inserter, Inserter) and isinstance(inserter, Withdrawable)


# -- the simulated inserter's stops --------------------------------------------------------------------------
def test_a_fault_stops_the_machine_and_a_clear_starts_it_again(tmp_path):
    """A fault injected from another process stops the device at its next step: it reports stopped with the
    reasons, takes no run; cleared, it works the run."""
    device = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    driver = SimulatedInserter(
        "ins", tmp_path / "dev", time_scale=0
    )  # the host's instance on the same folder
    assert driver.machine_status().state is InserterState.IDLE
    driver.fault(("cover-open",))
    assert device.step() == 0
    driver.submit(run_of(tmp_path, {"1": 1}))
    assert device.step() == 0
    assert driver.machine_status() == InserterStatus("ins", InserterState.STOPPED, ("cover-open",), 1)
    assert driver.find("R1").waiting
    driver.clear()
    assert device.step() == 1
    assert driver.result("R1").finished and driver.machine_status().state is InserterState.IDLE


def test_the_machine_stops_by_itself_after_a_stops_at_envelope_and_resumes_when_cleared(tmp_path):
    """stops_at=[2]: two envelopes done, then stopped for an operator (envelopes-empty) however long the clock
    runs; cleared, the remaining envelopes take their own time from the clear on."""
    clock = Clock()
    device = slow(tmp_path, clock, stops_at=[2])
    device.submit(run_of(tmp_path, FOUR))
    device.step()
    clock.now = 10.0
    assert device.step() == 2
    status = device.machine_status()
    assert (status.state, status.reasons) == (InserterState.STOPPED, ("envelopes-empty",))
    assert "refill the envelope hopper" in status.message
    clock.now = 100.0
    assert device.step() == 0
    assert [r.piece_id for r in device.result("R1").results] == ["1", "2"]
    device.clear()
    assert device.step() == 0  # cleared at 100: no envelope is due yet
    clock.now = 101.0
    assert device.step() == 1
    clock.now = 102.0
    assert device.step() == 1 and device.result("R1").finished


def test_stops_count_machine_lifetime_envelopes_across_runs(tmp_path):
    """stops_at=[3]: the first two-envelope run finishes, the second stops after its first envelope."""
    device = SimulatedInserter("ins", tmp_path / "dev", time_scale=0, stops_at=[3])
    device.submit(run_of(tmp_path, {"1": 1, "2": 1}, run_id="R1"))
    device.submit(run_of(tmp_path, {"3": 1, "4": 1}, run_id="R2"))
    assert device.step() == 3
    assert device.result("R1").finished and not device.result("R2").finished
    assert device.machine_status().state is InserterState.STOPPED


def test_a_restarted_device_is_still_stopped(tmp_path):
    """The stop and the lifetime count live in the folder: a new device on it stays stopped until cleared."""
    first = SimulatedInserter("ins", tmp_path / "dev", time_scale=0, stops_at=[1, 3])
    first.submit(run_of(tmp_path, {"1": 1, "2": 1}))
    assert first.step() == 1
    again = SimulatedInserter("ins", tmp_path / "dev", time_scale=0, stops_at=[1, 3])
    assert again.step() == 0 and again.stopped
    again.clear()
    assert again.step() == 1 and again.result("R1").finished
    saved = json.loads((tmp_path / "dev" / "machine.json").read_text())
    assert (saved["state"], saved["envelopes"]) == ("running", 2)


# -- withdrawal ----------------------------------------------------------------------------------------------
def test_a_waiting_run_is_withdrawn_with_proof_and_never_enveloped(tmp_path):
    """withdraw() moves the waiting header into withdrawn/ (the proof) and says True, again when asked again;
    the inserter no longer has the run, and the device never envelopes it."""
    device = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    device.submit(run_of(tmp_path, {"1": 1, "2": 1}))
    assert device.withdraw("R1") and device.withdraw("R1")
    assert (tmp_path / "dev" / "withdrawn" / "R1.json").exists()
    assert device.find("R1") is None
    assert device.step() == 0
    assert not list((tmp_path / "dev" / "results").iterdir()) and not list(
        (tmp_path / "dev" / "taken").iterdir()
    )


def test_a_run_the_machine_took_is_not_withdrawn(tmp_path):
    """Once the device has taken a run (its header renamed into taken/), withdraw() says False and the run
    goes on."""
    clock = Clock()
    device = slow(tmp_path, clock)
    device.submit(run_of(tmp_path, {"1": 1, "2": 1}))
    assert device.find("R1").waiting
    device.step()  # taken at 0, no envelope done yet
    assert device.find("R1").waiting is False
    assert device.withdraw("R1") is False
    clock.now = 2.0
    assert device.step() == 2 and device.result("R1").finished


def test_a_run_never_sent_is_not_withdrawn(tmp_path):
    assert SimulatedInserter("ins", tmp_path / "dev", time_scale=0).withdraw("R9") is False


def test_a_withdrawn_run_sent_again_is_worked_and_no_longer_withdrawable(tmp_path):
    """A run withdrawn and later sent back to the same inserter is accepted; its old proof is gone, so once
    the device takes it a withdrawal says False."""
    clock = Clock()
    device = slow(tmp_path, clock)
    run = run_of(tmp_path, {"1": 1})
    device.submit(run)
    assert device.withdraw("R1")
    device.submit(run)
    assert not (tmp_path / "dev" / "withdrawn" / "R1.json").exists()
    device.step()
    assert device.withdraw("R1") is False
    clock.now = 1.0
    assert device.step() == 1 and device.result("R1").finished


def test_the_device_takes_runs_in_order_after_one_was_withdrawn(tmp_path):
    """Of two waiting runs the first is withdrawn: the device takes the second."""
    device = SimulatedInserter("ins", tmp_path / "dev", time_scale=0)
    device.submit(run_of(tmp_path, {"1": 1}, run_id="R1"))
    device.submit(run_of(tmp_path, {"2": 1}, run_id="R2"))
    assert device.withdraw("R1")
    assert device.step() == 1
    assert device.result("R2").finished and device.find("R1") is None
