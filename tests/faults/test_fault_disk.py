"""A full disk under the whole state dir, then room again: the state dir (``ledger.sqlite``, the embedded
Redis in ``<state>/redis`` with its AOF, blobs, spool, devices, receipts, manifests, logs) is a small tmpfs
the test mounts (as root, as CI runs), a `plant run` of a demo batch goes on it, and at a seeded moment a
filler file takes every byte left. Once the session has said "disk full at PATH: N MB needed" on its terminal
the filler is deleted; the run must finish by itself, every piece exactly once (the independent checker).
The heal time is from the moment there is room again to the last letter final."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.checker import assert_held, check_run
from tests.faults.harness import (
    HEALED_STATES,
    RESULTS,
    RUN_TIMEOUT_S,
    Result,
    last_final_at,
    moment,
    runs,
    start_run,
    unfinished,
    wait_for_moment,
)
from tests.plant.helpers import reap_redis, wait_for

#: The state dir's filesystem: room for a run with the session's free-space floor (64 MiB) to spare.
TMPFS_SIZE = "160m"
#: The fault's name in the table.
FAULT = "disk full (state dir tmpfs), room again"
#: Seconds the plant may take to say the disk is full.
SAY_TIMEOUT_S = 60


def mount_state(state: Path) -> None:
    """Mount a fresh tmpfs of :data:`TMPFS_SIZE` as ``state``; fail (never skip) without root."""
    if os.geteuid() != 0:
        pytest.fail(
            "the disk-full fault mounts a small tmpfs as the state dir and needs root (CI runs it as root): "
            "run pytest as root"
        )
    state.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(state)], check=True)


def unmount(state: Path) -> None:
    subprocess.run(["umount", "-l", str(state)], check=False)


def fill(folder: Path) -> Path:
    """A filler file in ``folder`` written until its disk has no byte left (ENOSPC); its path."""
    filler = folder / ".filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 20, 65536, 4096, 512, 1):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


@pytest.mark.parametrize("run", runs())
def test_disk_full_under_the_state_dir_then_room_again(tmp_path, run):
    """The whole state dir on a tmpfs filled at a seeded moment: the session says where and how much, and
    once the filler is gone the run finishes by itself, every letter final exactly once."""
    at = moment("disk", run)
    state = tmp_path / "state"
    out_path, err_path = tmp_path / "run.out", tmp_path / "run.err"  # off the full disk
    mount_state(state)
    try:
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc, state, config = start_run(tmp_path, run, seed=300, stdout=out, stderr=err)
        try:
            wait_for_moment(state, at, proc)
            open_at = unfinished(state)
            said_before = err_path.stat().st_size
            filler = fill(state)
            full_at = time.time()

            def said() -> str:
                return err_path.read_text(errors="replace")[said_before:]

            wait_for(
                lambda: f"disk full at {state}" in said() or proc.poll() is not None,
                "the plant to say the disk is full",
                timeout=SAY_TIMEOUT_S,
                detail=lambda: said()[-2000:],
            )
            plain = [line for line in said().splitlines() if line.startswith(f"disk full at {state}")]
            assert plain, (
                f"the run ended (exit {proc.poll()}) without saying the disk is full: {said()[-3000:]}"
            )
            assert " MB needed" in plain[0], plain[0]
            filler.unlink()
            room_at = time.time()
            code = proc.wait(timeout=RUN_TIMEOUT_S + 60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
            reap_redis(state)
        err_text = err_path.read_text(errors="replace")
        if code != 0:
            detail = f"exit {code}: {err_text[-800:]}"
            RESULTS.items.append(Result(FAULT, run, str(at), False, None, open_at, detail))
            raise AssertionError(
                f"{FAULT} at {at}: the run did not heal by itself, {detail}\n{err_text[-3000:]}"
            )
        assert f"There is room again at {state}; carrying on." in err_text
        assert open_at, f"the disk filled at {at} after the run ended"
        report = check_run(state, config, expect_states=HEALED_STATES)
        last = last_final_at(state)
        heal = None if last is None else max(0.0, last - room_at)
        moment_ = f"{at}, full {room_at - full_at:.1f}s"
        RESULTS.items.append(Result(FAULT, run, moment_, report.held, heal, open_at, report.summary()))
        assert_held(report)
    finally:
        reap_redis(state)
        unmount(state)
