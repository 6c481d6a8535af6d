"""Hot-folder claims: a job id gets one ticket, ever, and a claim is taken over only from a proven-dead owner.

The submitters here are real processes (a child that runs the driver and stops inside its PDF copy), so the
owner identity, the heartbeat and the exclusive ticket are the driver's own, not test fakes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from printers import DuplicateJob, HotFolderPrinter, JobState, JobTicket
from printers.drivers import hotfolder
from printers.drivers.hotfolder import owner_identity, process_start

#: A submitter process: waits for START to exist (unless "-"), submits JOB from PDF into FOLDER, stopping
#: inside its PDF copy until GO exists (unless "-"). Exit 0: submitted; 3: DuplicateJob.
SUBMITTER = """
import sys, time
from pathlib import Path
from printers import DuplicateJob, HotFolderPrinter, JobTicket, _files

folder, job, pdf, go, claim_s, start = sys.argv[1:7]
while start != "-" and not Path(start).exists():
    time.sleep(0.001)
real_copy = _files.atomic_copy

def slow_copy(source, target):
    while go != "-" and not Path(go).exists():
        time.sleep(0.02)
    real_copy(source, target)

_files.atomic_copy = slow_copy
try:
    HotFolderPrinter("p", folder, abandoned_claim_s=float(claim_s)).submit(JobTicket(job, Path(pdf), 1))
except DuplicateJob:
    sys.exit(3)
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "hot"
    path.mkdir()
    return path


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    from tests.printers.conftest import make_pdf

    return make_pdf(tmp_path / "doc.pdf", 2)


def start_submitter(
    folder: Path, job: str, pdf: Path, go: Path | str, claim_s: float = 120, start: Path | str = "-"
) -> subprocess.Popen:
    """A child process submitting ``job`` once ``start`` exists; with ``go`` a path, it waits inside its PDF
    copy until go exists."""
    args = [str(folder), job, str(pdf), str(go), str(claim_s), str(start)]
    return subprocess.Popen([sys.executable, "-c", SUBMITTER, *args])


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def write_claim(folder: Path, job_id: str, **owner) -> Path:
    """A claim as a submitter writes it, with ``owner`` fields in place of ours."""
    (folder / "submitted").mkdir(exist_ok=True)
    path = folder / "submitted" / f"{job_id}.json"
    claim = {
        "format": "plant-hotfolder-receipt/1",
        "job_id": job_id,
        "printer": "p",
        "stage": "claimed",
        "submitted": "2020-01-01T00:00:00Z",
        **owner_identity(),
        "token": "t-" + job_id,
        "heartbeat_s": 0.25,
        "at": 0.0,
    }
    claim.update(owner)
    path.write_text(json.dumps(claim))
    return path


def age(path: Path, seconds: float) -> None:
    """Make a file's last heartbeat ``seconds`` old."""
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def tickets(folder: Path, job_id: str) -> list[Path]:
    """Every ticket of ``job_id`` in the folder or taken by the device."""
    return [p for p in (folder / f"{job_id}.json", folder / "work" / f"{job_id}.json") if p.exists()]


def test_a_live_owners_old_claim_is_never_taken_over(folder, pdf):
    """A submitter that is alive, however long it holds its claim, keeps it: find says it is being submitted
    (by whom) and a second submit is refused; once that process is gone, the job is submitted once."""
    child = start_submitter(folder, "J1", pdf, folder.parent / "never")
    try:
        wait_for(lambda: (folder / "submitted" / "J1.json").exists())
        printer = HotFolderPrinter("p", folder, abandoned_claim_s=1)
        age(folder / "submitted" / "J1.json", 3600)  # old by any clock: age alone proves nothing here
        time.sleep(1.2)
        status = printer.find("J1")
        assert status is not None and status.state is JobState.PENDING
        assert f"pid {child.pid}" in status.message and "running" in status.message
        with pytest.raises(DuplicateJob):
            printer.submit(JobTicket("J1", pdf, 1))
        assert tickets(folder, "J1") == []
    finally:
        child.kill()
        child.wait()
    assert printer.find("J1") is None  # its owner is dead now: the device never saw the job
    assert printer.submit(JobTicket("J1", pdf, 1)).state is JobState.PENDING
    assert tickets(folder, "J1") == [folder / "J1.json"]


def test_the_claim_of_an_exited_child_is_taken_over(folder, pdf):
    """A submitter that exited (a zombie not yet reaped, then reaped) left a job the device never saw: it is
    taken over at once, whatever abandoned_claim_s says."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = Path(f"/proc/{child.pid}/stat")
    wait_for(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")
    write_claim(folder, "J1", pid=child.pid, proc_start=process_start(child.pid))
    printer = HotFolderPrinter("p", folder, abandoned_claim_s=86400)
    assert printer.find("J1") is None  # a zombie is dead
    child.wait()
    assert printer.find("J1") is None  # and so is a reaped child
    assert printer.submit(JobTicket("J1", pdf, 1)).state is JobState.PENDING
    assert tickets(folder, "J1") == [folder / "J1.json"]


def test_a_pid_reused_by_another_process_proves_the_owner_dead(folder, pdf):
    """The claim's pid is alive but started at another time: another process has the pid, its owner is
    dead."""
    write_claim(folder, "J1", pid=os.getpid(), proc_start=process_start(os.getpid()) - 1)
    printer = HotFolderPrinter("p", folder)
    assert printer.find("J1") is None
    write_claim(folder, "J2", pid=os.getpid())  # the same pid and start time: alive, never taken
    assert printer.find("J2").state is JobState.PENDING


def test_another_hosts_claim_is_judged_by_its_heartbeat(folder, pdf):
    """Another host's claim is alive while its heartbeat is fresh, however old the claim, and dead once its
    heartbeat is older than abandoned_claim_s."""
    path = write_claim(folder, "J1", host="elsewhere", pid=1, at=0.0)
    printer = HotFolderPrinter("p", folder, abandoned_claim_s=30)
    age(path, 10)
    status = printer.find("J1")
    assert status.state is JobState.PENDING and "'elsewhere'" in status.message
    with pytest.raises(DuplicateJob):
        printer.submit(JobTicket("J1", pdf, 1))
    age(path, 31)
    assert printer.find("J1") is None
    printer.submit(JobTicket("J1", pdf, 1))
    assert tickets(folder, "J1") == [folder / "J1.json"]


def test_another_hosts_claim_without_heartbeat_waits_for_an_operator(folder, pdf):
    """A claim of another host that keeps no heartbeat (an older driver) is never taken over by its age: the
    job is HELD with a message that says what to check and which file to remove."""
    path = write_claim(folder, "J1", host="elsewhere", pid=1, at=0.0)
    claim = json.loads(path.read_text())
    del claim["heartbeat_s"]
    path.write_text(json.dumps(claim))
    age(path, 86400 * 30)
    printer = HotFolderPrinter("p", folder, abandoned_claim_s=1)
    status = printer.find("J1")
    assert status.state is JobState.HELD and "job-claim-unproven" in status.reasons
    assert "cannot tell whether it is still submitting" in status.message and str(path) in status.message
    with pytest.raises(DuplicateJob):
        printer.submit(JobTicket("J1", pdf, 1))
    path.unlink()  # the operator checked that host
    printer.submit(JobTicket("J1", pdf, 1))
    assert tickets(folder, "J1") == [folder / "J1.json"]


def test_a_live_submitters_heartbeat_keeps_its_claim_seen_from_another_host(folder, pdf, monkeypatch):
    """Seen from another host, a real submitter's claim stays alive through its heartbeat beyond
    abandoned_claim_s, and is taken over once the process is killed and the heartbeat is stale."""
    child = start_submitter(folder, "J1", pdf, folder.parent / "never", claim_s=1)
    try:
        wait_for(lambda: (folder / "submitted" / "J1.json").exists())
        monkeypatch.setattr(hotfolder.socket, "gethostname", lambda: "another-host")
        printer = HotFolderPrinter("p", folder, abandoned_claim_s=1)
        time.sleep(2.5)
        status = printer.find("J1")
        assert status is not None and "heartbeat" in status.message
    finally:
        child.kill()
        child.wait()
    wait_for(lambda: printer.find("J1") is None, timeout=10)
    printer.submit(JobTicket("J1", pdf, 1))
    assert tickets(folder, "J1") == [folder / "J1.json"]


def test_a_stalled_owner_that_wakes_after_a_takeover_writes_no_second_ticket(folder, pdf, monkeypatch):
    """The owner of a claim is stopped (SIGSTOP: its heartbeat stops too) until another host takes its claim
    over and the device takes that ticket; woken, the owner finds the ticket written and prints nothing."""
    go = folder.parent / "go"
    child = start_submitter(folder, "J1", pdf, go, claim_s=1)
    wait_for(lambda: (folder / "submitted" / "J1.json").exists())
    os.kill(child.pid, signal.SIGSTOP)
    try:
        monkeypatch.setattr(hotfolder.socket, "gethostname", lambda: "another-host")
        printer = HotFolderPrinter("p", folder, abandoned_claim_s=1)
        wait_for(lambda: printer.find("J1") is None, timeout=10)
        printer.submit(JobTicket("J1", pdf, 1))
        (folder / "work").mkdir()
        (folder / "J1.json").rename(folder / "work" / "J1.json")  # the device took it
        go.touch()
    finally:
        os.kill(child.pid, signal.SIGCONT)
    assert child.wait(timeout=30) == 3  # DuplicateJob
    assert tickets(folder, "J1") == [folder / "work" / "J1.json"]
    receipt = json.loads((folder / "submitted" / "J1.json").read_text())
    assert receipt["stage"] == "queued" and receipt["host"] == "another-host"


@pytest.mark.parametrize("dead_claim", [False, True])
def test_racing_submitters_write_exactly_one_ticket(folder, pdf, dead_claim):
    """Eight processes submit the same job id at once (onto a free id, or onto a dead owner's claim they all
    take over): exactly one ticket is written, one submitter succeeds, the others get DuplicateJob and find
    the job."""
    if dead_claim:
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        write_claim(folder, "J1", pid=child.pid, proc_start=None)
    start = folder.parent / "start"
    children = [start_submitter(folder, "J1", pdf, "-", start=start) for _ in range(8)]
    time.sleep(1.0)  # every child is up and polling
    start.touch()
    codes = sorted(child.wait(timeout=60) for child in children)
    assert codes == [0] + [3] * 7
    assert tickets(folder, "J1") == [folder / "J1.json"]
    assert (folder / "submitted" / "J1+ticket.json").read_bytes() == (folder / "J1.json").read_bytes()
    assert HotFolderPrinter("p", folder).find("J1").state is JobState.PENDING


def test_a_job_id_gets_one_ticket_even_after_the_device_took_it(folder, pdf):
    """With the first ticket taken out of the folder and its receipt lost, a second submit still finds the
    ticket written and is refused: the folder name alone would not have stopped it."""
    printer = HotFolderPrinter("p", folder)
    printer.submit(JobTicket("J1", pdf, 1))
    (folder / "work").mkdir()
    (folder / "J1.json").rename(folder / "work" / "J1.json")
    (folder / "J1.pdf").rename(folder / "work" / "J1.pdf")
    (folder / "submitted" / "J1.json").unlink()
    (folder / "work" / "J1.json").unlink()  # and the device forgot it
    assert printer.find("J1") is None
    with pytest.raises(DuplicateJob, match="another submitter"):
        printer.submit(JobTicket("J1", pdf, 1))
    assert not (folder / "J1.json").exists()


def test_the_host_identity_is_recorded_in_the_claim(folder, pdf):
    """The receipt names its owner: host, boot id, pid namespace, pid and its start time, and a heartbeat."""
    HotFolderPrinter("p", folder, abandoned_claim_s=60).submit(JobTicket("J1", pdf, 1))
    receipt = json.loads((folder / "submitted" / "J1.json").read_text())
    assert receipt["host"] == socket.gethostname() and receipt["pid"] == os.getpid()
    assert receipt["proc_start"] == process_start(os.getpid()) and receipt["boot_id"]
    assert receipt["pid_ns"].startswith("pid:") and receipt["heartbeat_s"] == 15
