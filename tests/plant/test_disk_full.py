"""A full disk (issue 12, hole 10), on a real small filesystem: a tmpfs of a few MB the test mounts (as root,
as CI runs) and fills with a ballast file. A write that finds no room says where and how much, and leaves no
partial file; the intake pauses and goes on by itself; a stage tries again later instead of failing; a worker
warning its log file cannot take goes elsewhere."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from plant import logs
from plant.errors import DiskFull
from plant.intake import watch as drop
from plant.ledger import schema as t
from plant.stages.impose import impose
from plant.stages.receipts import receipts
from plant.storage.files import atomic_write, store_blob
from plant.testing import (
    accept_batch,
    configure,
    installed_plant,
    job_ids,
    plan_submission,
    read_rows,
    read_scalars,
)
from tests.plant.helpers import wait_for

#: Size of the test's filesystem.
TMPFS_SIZE = "8m"
MB = 1_000_000


def mount_tmpfs(folder: Path, size: str = TMPFS_SIZE) -> None:
    """Mount a tmpfs of ``size`` on ``folder`` (made if missing); fails, never skips, without root."""
    if os.geteuid() != 0:
        pytest.fail(
            "the disk-full tests mount a small tmpfs and need root (CI runs them as root): run pytest as root"
        )
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A folder on a fresh tmpfs of :data:`TMPFS_SIZE`, unmounted after the test."""
    folder = tmp_path / "small-disk"
    mount_tmpfs(folder)
    try:
        yield folder
    finally:
        unmount(folder)


def fill(folder: Path) -> Path:
    """Write a ballast file into ``folder`` until its disk has no room left; the ballast's path."""
    ballast = folder / ".ballast"
    chunk = b"\0" * 65536
    with open(ballast, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with open(ballast, "ab", buffering=0) as fh:  # the last partial block too
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass
    return ballast


def leftovers(folder: Path) -> list[str]:
    """Temp files left in ``folder`` (a half-written file)."""
    return sorted(p.name for p in folder.rglob("*.tmp"))


def test_atomic_write_on_a_full_disk_says_where_and_leaves_nothing(small_disk):
    target = small_disk / "receipts" / "S1.csv"
    ballast = fill(small_disk)
    with pytest.raises(DiskFull) as caught:
        atomic_write(target, b"x" * (3 * MB))
    assert caught.value.path == str(target) and caught.value.needed_bytes == 3 * MB
    assert str(caught.value).startswith(f"disk full at {target}: 3 MB needed; free space there")
    assert caught.value.exit_code == 75
    assert not target.exists() and leftovers(small_disk) == []
    with pytest.raises(DiskFull):  # a blob likewise, and no partial blob is ever taken for the whole one
        store_blob(small_disk / "blobs", b"%PDF" + os.urandom(MB))
    assert [p for p in (small_disk / "blobs").rglob("*") if p.is_file()] == []

    ballast.unlink()
    atomic_write(target, b"x" * (3 * MB))
    assert target.read_bytes() == b"x" * (3 * MB)
    digest = store_blob(small_disk / "blobs", b"%PDF-1.4 ok")
    assert len(digest) == 64


def _zip(folder: Path, name: str) -> Path:
    path = folder / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("letter.pdf", os.urandom(200_000))
    return path


def test_the_watcher_pauses_while_the_disk_is_full_and_goes_on_by_itself(tmp_path, small_disk):
    """Below the free-space floor nothing is claimed or refused; an intake that finds no room puts the
    submission back; once the ballast is gone the watcher takes it by itself."""
    inbox = tmp_path / "drop"
    inbox.mkdir()
    _zip(inbox, "a.zip")
    state = small_disk / "state"
    state.mkdir()

    def take(path: Path) -> str:  # the intake's part that matters here: the submission's bytes stored
        return store_blob(state / "blobs", path.read_bytes(), ".zip")

    ballast = fill(small_disk)
    with pytest.raises(DiskFull) as below_floor:
        drop.scan_once(inbox, take, state_dir=state, floor_bytes=MB)
    assert below_floor.value.path == str(state) and below_floor.value.needed_bytes > 0
    assert (inbox / "a.zip").is_file() and not (inbox / drop.FAILED).exists()
    with pytest.raises(DiskFull):  # no floor: the intake itself finds no room; the zip goes back, not failed
        drop.scan_once(inbox, take)
    assert (inbox / "a.zip").is_file() and not (inbox / drop.FAILED).exists()

    def unpack(path: Path) -> str:  # an intake that writes a file itself: a plain OSError ENOSPC
        (state / "unpacked.pdf").write_bytes(path.read_bytes())
        return "S-1"

    with pytest.raises(DiskFull) as raw:
        drop.scan_once(inbox, unpack, state_dir=state, floor_bytes=0)
    assert raw.value.path == str(state)  # a failed write names no file: the state dir's disk
    assert raw.value.needed_bytes == (inbox / "a.zip").stat().st_size
    assert (inbox / "a.zip").is_file() and not (inbox / drop.FAILED).exists()
    assert list((inbox / drop.CLAIMED).iterdir()) == []
    (state / "unpacked.pdf").unlink(missing_ok=True)

    stop = threading.Event()
    with capture_logs() as lines:
        thread = threading.Thread(target=drop.watch, args=(inbox, take, 0.05, stop, state, MB), daemon=True)
        thread.start()
        try:
            wait_for(lambda: any(e["event"] == "intake_paused" for e in lines), "the intake to pause")
            time.sleep(0.3)
            assert (inbox / "a.zip").is_file()
            ballast.unlink()
            wait_for(lambda: (inbox / drop.DONE / "a.zip").is_file(), "the watcher to take the zip")
        finally:
            stop.set()
            thread.join(timeout=10)
    events = [e["event"] for e in lines]
    assert events.count("intake_paused") == 1, events  # said once while it lasts
    assert "intake_resumed" in events and "submission_taken" in events
    paused = next(e for e in lines if e["event"] == "intake_paused")
    assert paused["detail"].startswith(f"disk full at {state}: ")
    assert not (inbox / drop.FAILED).exists()


def test_a_stage_on_a_full_disk_tries_again_later_and_writes_nothing_half(tmp_path, small_batch):
    """The spool and receipts folders on a full tmpfs: impose and receipts send themselves again after a
    back-off (never a failed job, never a dead letter), leave the ledger as it was and no partial file; with
    room they go through."""
    config, settings = configure(tmp_path)
    mount_tmpfs(settings.spool_dir)
    mount_tmpfs(settings.receipts_dir)
    try:
        with installed_plant(settings, devices=False) as plant:
            submission = plan_submission(accept_batch(plant, small_batch.submission, small_batch.consents))
            (job, *_) = job_ids(plant)
            ballasts = [fill(settings.spool_dir), fill(settings.receipts_dir)]
            with capture_logs() as lines:
                impose(job)
                receipts(submission)
            assert plant.sent == [("impose", (job,)), ("receipts", (submission,))]
            full = [e for e in lines if e["event"] == "disk_full"]
            assert [e["work"] for e in full] == [f"impose {job}", f"receipts {submission}"]
            assert full[0]["detail"].startswith(f"disk full at {settings.spool_dir / job}.pdf: ")
            assert full[0]["retry_in_s"] == 1.0
            jobs = t.print_jobs.c
            assert read_scalars(plant, select(jobs.state).where(jobs.job_id == job)) == ["PLANNED"]
            subs = t.submissions.c
            finished = select(subs.finished_at).where(subs.submission_id == submission)
            assert read_scalars(plant, finished) == [None]
            for folder in (settings.spool_dir, settings.receipts_dir):
                assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == []
                assert leftovers(folder) == []

            with capture_logs() as lines:  # still full: the back-off grows
                impose(job)
            assert [e["retry_in_s"] for e in lines if e["event"] == "disk_full"] == [2.0]

            for ballast in ballasts:
                ballast.unlink()
            plant.sent.clear()
            impose(job)
            receipts(submission)
            assert plant.sent == []
            assert read_scalars(plant, select(jobs.state).where(jobs.job_id == job)) == ["IMPOSED"]
            assert (settings.spool_dir / f"{job}.pdf").stat().st_size > 0
            rows = json.loads((settings.receipts_dir / f"{submission}.json").read_text())["letters"]
            assert len(rows) == len(read_rows(plant, select(t.letters.c.pk)))
    finally:
        unmount(settings.spool_dir)
        unmount(settings.receipts_dir)


def test_a_warning_the_log_file_cannot_take_goes_to_the_alert_descriptor(small_disk, monkeypatch):
    """The worker's log file is on the full disk: a warning reaches the session's terminal (the descriptor
    in PLANT_ALERT_FD) instead of being lost or failing the stage that logs it; an info line is dropped."""
    ballast = fill(small_disk)
    read_end, write_end = os.pipe()
    log_file = open(small_disk / "worker.log", "a", buffering=1)  # noqa: SIM115 - closed below
    monkeypatch.setattr(sys, "stderr", log_file)
    monkeypatch.setenv(logs.ALERT_FD, str(write_end))
    try:
        logger = logs._StderrLogger()
        logger.info('{"event": "job_imposed"}')
        logger.warning('{"event": "disk_full", "detail": "disk full at /x: 2 MB needed"}')
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            said = pipe.read().decode()
    finally:
        monkeypatch.undo()
        ballast.unlink()
        log_file.close()
    assert "disk full at /x: 2 MB needed" in said and said.startswith("[plant worker ")
    assert "job_imposed" not in said
