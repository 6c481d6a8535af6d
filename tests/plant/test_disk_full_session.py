"""A full disk under a running plant (issue 12, hole 10), with the real processes: the spool, receipts and log
folders of the state dir live on one small tmpfs the test mounts (as root) and fills. The session says "disk
full at PATH: N MB needed" once on its terminal, the worker's own warnings (its log file is on that disk)
reach the same terminal, nothing fails or is half-written; once the ballast is gone the run finishes by itself
with every letter final."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select

from plant.demo import generate
from plant.ledger import schema as t
from plant.runtime.session import Session
from plant.testing import configure, read_rows, submit
from tests.plant.helpers import PHASE_TIMEOUT_S, wait_for
from tests.plant.test_disk_full import fill, leftovers, mount_tmpfs, unmount

pytestmark = pytest.mark.usefixtures("no_leftover_redis")

MB = 2**20


def test_a_full_disk_is_said_once_nothing_is_lost_and_the_run_goes_on_by_itself(tmp_path, capfd):
    config, settings = configure(tmp_path)
    disk = tmp_path / "small-disk"
    mount_tmpfs(disk)
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        for name in ("spool", "receipts", "logs"):
            (disk / name).mkdir()
            (settings.state_dir / name).symlink_to(disk / name)
        batch = generate(tmp_path / "in", 6, seed=5)
        ballast = fill(disk)
        said = ""
        with Session(settings, config_path=config, progress=True) as session:
            session.disk_floor = 2 * MB
            submission = submit(session, batch.submission)
            outcome: list[BaseException | None] = []

            def run() -> None:
                try:
                    session.wait([submission], timeout=PHASE_TIMEOUT_S * 2, stall_s=PHASE_TIMEOUT_S * 2)
                    outcome.append(None)
                except BaseException as exc:  # handed to the test's thread
                    outcome.append(exc)

            waiter = threading.Thread(target=run, daemon=True)
            waiter.start()

            def heard(text: str) -> bool:
                nonlocal said
                out, err = capfd.readouterr()
                said += out + err
                return text in said

            wait_for(
                lambda: heard(f"disk full at {settings.spool_dir}: "),
                "the session to say the disk is full",
                detail=lambda: f"{outcome} {said[-3000:]}",
            )
            wait_for(  # the worker's own warning (it retries while the disk is full), not the session's line
                lambda: heard("[plant worker ") and '"event": "disk_full"' in said,
                "the worker's disk_full warning on the terminal",
                detail=lambda: f"{outcome} {said[-3000:]}",
            )
            letters = t.letters.c
            states = {r.state for r in read_rows(session, select(letters.state))}
            assert states.isdisjoint({"IMPOSED", "SPOOLED", "PRINTED", "FAILED", "DISPATCHED"}), states
            # no job file taken as done (a try in flight may hold its hidden temp file this very moment)
            assert [p.name for p in settings.spool_dir.iterdir() if not p.name.startswith(".")] == []

            ballast.unlink()
            waiter.join(timeout=PHASE_TIMEOUT_S * 2 + 10)
            assert outcome == [None], outcome
            heard("")
            final = {
                r.letter_id: r.state for r in read_rows(session, select(letters.letter_id, letters.state))
            }
            receipt = json.loads((settings.receipts_dir / f"{submission}.json").read_text())["letters"]
            assert leftovers(disk) == []
    finally:
        unmount(disk)

    assert set(final.values()) <= {"DISPATCHED", "DELIVERED_DIGITAL"} and len(final) == 6, final
    plain = [line for line in said.splitlines() if line.startswith(f"disk full at {settings.spool_dir}: ")]
    assert len(plain) == 1, said  # the terminal's plain line, once while it lasts
    assert f"There is room again at {settings.spool_dir}; carrying on." in said
    assert "[plant worker " in said  # the worker's own line, not lost with its log file
    assert {r["letter_id"]: r["status"] for r in receipt} == final
