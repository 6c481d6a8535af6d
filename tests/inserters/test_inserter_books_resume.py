"""The inserter's books are the counter a restart cannot roll back (issue 12, point 11): envelopes booked
after the last saved state — a save that hit a full disk, or a crash before the save — are taken as done,
never made nor booked again."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from inserters import Outcome, SimulatedInserter
from inserters import simulated as inserter_module
from inserters.mailrun import DEFAULT_LAYOUT
from tests.inserters.test_simulated_inserter import Clock, run_of

PIECES = {"1": 1, "2": 1, "3": 1, "4": 1}


class Crash(Exception):
    """The device process died here."""


@pytest.fixture
def full_progress_disk(tmp_path) -> Iterator[Path]:
    """The inserter folder ``dev`` whose ``progress/`` (the runs' saved state) is a small tmpfs, full."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a small tmpfs and needs root (CI runs it as root): run pytest as root")
    progress = tmp_path / "dev" / "progress"
    progress.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(progress)], check=True)
    try:
        ballast = progress / ".ballast"
        with open(ballast, "wb", buffering=0) as handle:
            for size in (65536, 4096, 512, 1):
                try:
                    while True:
                        handle.write(b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
        yield progress
    finally:
        if subprocess.run(["umount", str(progress)], check=False).returncode:
            subprocess.run(["umount", "-l", str(progress)], check=True)


def inserter(tmp_path, clock: Clock, **options) -> SimulatedInserter:
    """An inserter on ``tmp_path/dev`` at one envelope per device second, on ``clock``."""
    return SimulatedInserter(
        "ins", tmp_path / "dev", envelopes_per_hour=3600, time_scale=1.0, clock=clock, **options
    )


def assert_each_envelope_once(device: SimulatedInserter, tmp_path) -> None:
    """The run is finished: every cycle and every piece in the books once, machine numbers 1, 2, … without a
    gap (and the machine's saved count agrees), and the results file lists each piece once, INSERTED."""
    envelopes = device.books("envelope")
    assert [e["cycle"] for e in envelopes] == [1, 2, 3, 4]
    assert device.envelope_counts(None) == Counter(dict.fromkeys(PIECES, 1))
    assert [e["machine_envelope"] for e in envelopes] == [1, 2, 3, 4]
    assert device.result("R1").finished
    results = DEFAULT_LAYOUT.read_results(tmp_path / "dev" / "results" / "R1.csv")
    assert [(r.piece_id, r.outcome) for r in results] == [(p, Outcome.INSERTED) for p in PIECES]
    assert [r.piece_id for r in device.result("R1").results] == list(PIECES)
    assert device.machine_status().state.value != "stopped"
    machine = json.loads((tmp_path / "dev" / "machine.json").read_text())
    assert machine["envelopes"] == 4


@pytest.mark.parametrize("restart", [False, True], ids=["step-retried", "device-restarted"])
def test_a_progress_save_on_a_full_disk_is_made_again_without_booking_twice(
    tmp_path, full_progress_disk, restart
):
    """The step books envelopes 1 and 2, then saving the run's progress fails with ENOSPC (a real full
    tmpfs); room again, the step is done again (by the same device, or by a restarted one): the two envelopes
    are not booked again, the machine count is not added twice, and the run ends with each piece once."""
    clock = Clock()
    device = inserter(tmp_path, clock)
    device.submit(run_of(tmp_path, PIECES))
    device.step()
    clock.now = 2.0
    with pytest.raises(OSError) as caught:
        device.step()
    assert caught.value.errno == errno.ENOSPC
    assert [e["cycle"] for e in device.books("envelope")] == [1, 2]
    (full_progress_disk / ".ballast").unlink()  # room again

    if restart:
        device = inserter(tmp_path, clock)
    assert device.step() == 0  # nothing new is due: envelopes 1 and 2 are done
    progress = device.result("R1")
    assert (progress.finished, [r.piece_id for r in progress.results]) == (False, ["1", "2"])
    clock.now = 4.0
    assert device.step() == 2
    assert_each_envelope_once(device, tmp_path)


def test_a_crash_between_booking_and_saving_resumes_from_the_books(tmp_path):
    """The device books envelopes 2 and 3, then dies before its state is saved (the state files are put
    back as they were before the step); a new device on the folder takes them as done: it makes only
    envelope 4, in one envelope's time, and the run ends with each piece enveloped once."""
    clock = Clock()
    device = inserter(tmp_path, clock)
    device.submit(run_of(tmp_path, PIECES))
    device.step()
    clock.now = 1.0
    device.step()  # envelope 1, saved
    state = [tmp_path / "dev" / "progress" / "R1.json", tmp_path / "dev" / "machine.json"]
    before = [path.read_bytes() for path in state]
    clock.now = 3.0
    assert device.step() == 2
    for path, data in zip(state, before, strict=True):  # the crash came before the save
        path.write_bytes(data)
    del device

    again = inserter(tmp_path, clock)
    assert again.step() == 0
    assert [r.piece_id for r in again.result("R1").results] == ["1", "2", "3"]
    clock.now = 4.0
    assert again.step() == 1
    assert_each_envelope_once(again, tmp_path)
    assert [(r["event"], r["done"]) for r in again.books("run") if r["event"] != "finished"] == [
        ("started", 0),
        ("resumed", 3),
    ]


def test_a_crash_before_the_results_are_saved_finishes_without_enveloping_again(tmp_path, monkeypatch):
    """The last step books envelopes 3 and 4 and the run's end, and the device dies before the run's
    summary is saved: a new device finishes the run from the books, making no envelope and booking its end
    once."""
    clock = Clock()
    device = inserter(tmp_path, clock)
    device.submit(run_of(tmp_path, PIECES))
    device.step()
    clock.now = 2.0
    device.step()  # envelopes 1 and 2, saved
    real = inserter_module.atomic_write

    def crash_on_results(path, data, exclusive=False):
        if Path(path).parent.name == "results":
            raise Crash(path)
        return real(path, data, exclusive)

    monkeypatch.setattr(inserter_module, "atomic_write", crash_on_results)
    clock.now = 4.0
    with pytest.raises(Crash):
        device.step()
    monkeypatch.setattr(inserter_module, "atomic_write", real)
    assert not device.result("R1").finished
    del device

    again = inserter(tmp_path, clock)
    assert again.step() == 0
    assert_each_envelope_once(again, tmp_path)
    assert [r["event"] for r in again.books("run")] == ["started", "finished", "resumed"]


def test_a_stop_whose_save_was_lost_stops_the_restarted_machine(tmp_path):
    """The machine books envelope 2, its ``stops_at`` envelope, and dies before saving its count and its
    stop: the restarted machine stops there (its count from the books) and makes no envelope until cleared."""
    clock = Clock()
    device = inserter(tmp_path, clock, stops_at=(2,))
    device.submit(run_of(tmp_path, PIECES))
    device.step()
    clock.now = 1.0
    device.step()
    saved = tmp_path / "dev" / "saved"
    saved.mkdir()
    for name in ("machine.json", "progress"):
        src = tmp_path / "dev" / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, saved / name)
    clock.now = 2.0
    assert device.step() == 1 and device.stopped
    for name in ("machine.json", "progress"):  # the crash came before the save
        src, dst = saved / name, tmp_path / "dev" / name
        if src.is_dir():
            shutil.rmtree(dst)
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    del device

    again = inserter(tmp_path, clock, stops_at=(2,))
    clock.now = 5.0
    assert again.step() == 0 and again.stopped
    assert again.machine_status().state.value == "stopped"
    assert [e["cycle"] for e in again.books("envelope")] == [1, 2]
    again.clear()
    clock.now = 6.0
    again.step()
    clock.now = 8.0
    again.step()
    assert_each_envelope_once(again, tmp_path)
