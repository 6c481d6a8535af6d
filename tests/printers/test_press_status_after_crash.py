"""A crash that lands while the press writes a job's final status leaves that status saying "processing" for a
job its books show ended. The books are the press's truth: the restarted press rewrites the status from them,
so the driver sees the job completed, and prints nothing again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from printers import HotFolderPrinter, JobState, SimulatedPress
from printers.drivers.hotfolder import HotFolderLayout


def gone_pid() -> int:
    """The pid of a process that has exited (as the killed plant's is)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def killed_status_write(layout: HotFolderLayout, job_id: str) -> Path:
    """The empty temp file a status write killed half-way leaves beside the status file."""
    part = layout.status_dir / f".{job_id}.json.{gone_pid()}.5f0c2a91.part"
    part.write_bytes(b"")
    return part


def print_to_the_end_keeping_the_last_report(printer, pdfs, clock, folder: Path, job_id: str, pages: int):
    """Print a job of `pages` sheets to its end; return what the crash would have left (the files of the
    last progress report before the end, and the job's files in work/) and the final status as written."""
    printer.submit(pdfs(job_id, pages=pages))
    printer.press.step()  # takes the job
    clock.advance(pages - 1)
    printer.press.step()  # n-1 sheets out, reported
    layout = printer.layout
    reported = printer.status(job_id)
    assert (reported.state, reported.sheets_completed) == (JobState.PROCESSING, pages - 1)
    left = {
        path: path.read_bytes()
        for path in (layout.status(job_id), folder / "state" / "press.json", *layout.work.iterdir())
    }
    clock.advance(10)
    printer.press.step()
    final = printer.status(job_id)
    assert final.state is JobState.COMPLETED and not list(layout.work.iterdir())
    return left, final


def test_a_kill_while_writing_a_finished_jobs_status_is_put_right_from_the_books(
    simulated, pdfs, tmp_path, clock
):
    """As the fault suite's kill -9 left press-b: the books show the job completed with 6 sheets, its status
    still says processing, 5 of 6, with an empty temp file beside it, and the ticket is back in work/. The
    restarted press drops the ticket (no second print) and rewrites the status from its books."""
    folder = tmp_path / "press"
    printer = simulated(time_scale=1)
    left, final = print_to_the_end_keeping_the_last_report(printer, pdfs, clock, folder, "J-1", pages=6)
    layout = printer.layout
    output = layout.output("J-1")
    printed = output.read_bytes()
    books = printer.press.books()
    for path, data in left.items():  # as the crash left them
        path.write_bytes(data)
    part = killed_status_write(layout, "J-1")
    assert printer.status("J-1").state is JobState.PROCESSING

    restarted = SimulatedPress("press-1", folder, sheets_per_minute=60, time_scale=1, clock=clock)
    restarted.step()

    status = HotFolderPrinter("press-1", folder).status("J-1")
    assert status == final  # completed, 6 sheets, the output, the message it wrote at the end
    assert (status.state, status.sheets_completed, status.output_path) == (JobState.COMPLETED, 6, output)
    assert restarted.books() == books  # no second print, no resume, not a sheet more
    assert restarted.prints("J-1") == 1 and set(restarted.sheet_counts("J-1").values()) == {1}
    assert output.read_bytes() == printed and not layout.output("J-1", 2).exists()
    assert not part.exists() and not list(layout.work.iterdir())
    clock.advance(10)
    restarted.step()
    assert printer.status("J-1") == final and restarted.books() == books


@pytest.mark.parametrize("damage", ["torn", "missing", "processing"])
def test_a_starting_press_rewrites_a_status_its_books_contradict(simulated, pdfs, tmp_path, clock, damage):
    """With the ticket already cleaned up, the start alone puts a torn, missing or still-processing status of
    an ended job right; a final status, and a temp file of a live writer, are left alone."""
    folder = tmp_path / "press"
    printer = simulated(time_scale=1)
    left, final = print_to_the_end_keeping_the_last_report(printer, pdfs, clock, folder, "J-1", pages=3)
    printer.submit(pdfs("J-2", pages=1))
    printer.press.cancel("J-2")
    canceled = printer.status("J-2")
    assert canceled.state is JobState.CANCELED
    layout = printer.layout
    status_file = layout.status("J-1")
    if damage == "torn":
        status_file.write_bytes(b'{"format": "plant-ho')
    elif damage == "missing":
        status_file.unlink()
    else:
        status_file.write_bytes(left[status_file])
    part = killed_status_write(layout, "J-1")
    live = layout.status_dir / ".J-2.json.1.0badf00d.part"  # pid 1 runs: a writer that may still finish
    live.write_bytes(b"")
    books = printer.press.books()

    restarted = SimulatedPress("press-1", folder, sheets_per_minute=60, time_scale=1, clock=clock)

    driver = HotFolderPrinter("press-1", folder)
    assert driver.status("J-1") == final and driver.status("J-2") == canceled
    assert restarted.books() == books
    assert not part.exists() and live.exists()
