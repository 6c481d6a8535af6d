"""`plant run`'s own intake on a full disk (issue 12, hole 10): it does not exit, it says "disk full at PATH:
N MB needed", records nothing, waits for room and goes on by itself — bounded by the run's --timeout. The
state dir's blobs live on a small tmpfs the test mounts (as root) and fills."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from plant.demo import generate
from plant.storage.files import FREE_FLOOR_BYTES
from plant.testing import write_config
from tests.plant.helpers import PHASE_TIMEOUT_S, plant_command, plant_env, query, reap_redis, wait_for
from tests.plant.test_disk_full import fill, leftovers, mount_tmpfs, unmount

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_leftover_redis")]


@pytest.fixture
def full_blobs(tmp_path):
    """``tmp_path/state/blobs`` on a fresh tmpfs, filled to the last block; the ballast's path. The tmpfs is
    larger than the session's free-space floor, so that once the ballast is gone only `plant run`'s own intake
    has had anything to say."""
    disk = tmp_path / "small-disk"
    mount_tmpfs(disk, f"{FREE_FLOOR_BYTES // 2**20 + 32}m")
    try:
        (tmp_path / "state").mkdir()
        (disk / "blobs").mkdir()
        (tmp_path / "state" / "blobs").symlink_to(disk / "blobs")
        yield fill(disk)
    finally:
        reap_redis(tmp_path / "state")
        unmount(disk)


def start_run(tmp_path: Path, letters: int, timeout: int, err: Path) -> subprocess.Popen:
    batch = generate(tmp_path / "in", letters, seed=31)
    config = write_config(tmp_path)
    with open(err, "wb") as fh:
        return subprocess.Popen(
            plant_command(["run", str(batch.submission), "--timeout", str(timeout)], config),
            env=plant_env(tmp_path / "state"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=fh,
            start_new_session=True,
        )


def finish(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(timeout=PHASE_TIMEOUT_S * 3)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_plant_run_waits_for_room_then_takes_its_submission(tmp_path, full_blobs):
    state = tmp_path / "state"
    err = tmp_path / "run.err"
    proc = start_run(tmp_path, 4, 300, err)
    try:

        def said() -> str:
            return err.read_text(errors="replace")

        wait_for(
            lambda: f"disk full at {state / 'blobs'}: " in said(),
            "the run to say the disk is full",
            detail=said,
        )
        line = next(x for x in said().splitlines() if x.startswith(f"disk full at {state / 'blobs'}: "))
        assert " MB needed; " in line
        assert proc.poll() is None  # waiting, not exited
        assert query(state, "SELECT count(*) FROM submissions") == [(0,)]  # nothing recorded meanwhile
        full_blobs.unlink()
    finally:
        code = finish(proc)
    text = err.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert f"There is room again at {state / 'blobs'}" in text
    assert [x for x in text.splitlines() if x.startswith("disk full at ")] == [line]  # said once
    assert "Traceback" not in text
    states = {s for (s,) in query(state, "SELECT state FROM letters")}
    assert len(query(state, "SELECT pk FROM letters")) == 4
    assert states <= {"DISPATCHED", "DELIVERED_DIGITAL"}, states
    assert leftovers(tmp_path / "small-disk") == []


def test_plant_run_gives_up_waiting_for_room_at_its_timeout(tmp_path, full_blobs):
    state = tmp_path / "state"
    err = tmp_path / "run.err"
    code = finish(start_run(tmp_path, 2, 3, err))
    text = err.read_text(errors="replace")
    assert code == 69, text[-3000:]
    assert f"disk full at {state / 'blobs'}: " in text
    assert "no room came within --timeout" in text and "run `plant run` again" in text
    assert "Traceback" not in text
    assert query(state, "SELECT count(*) FROM submissions") == [(0,)]
