"""The simulated press keeps its own books: every job, print and sheet it handled, so a double print shows at
the device (a re-fed sheet after a crash, a job id printed twice), whatever the host believes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from printers import HotFolderPrinter, JobState, SimulatedPress
from printers.books import read_books
from printers.drivers.hotfolder import HotFolderLayout, ticket_to_json
from printers.drivers.simulated import press_books


def drop_second_ticket(folder: Path, ticket) -> None:
    """Put a job into the folder again the way a second plant or an operator at the RIP would (the driver
    refuses a job id the folder knows)."""
    layout = HotFolderLayout(folder)
    layout.document(ticket.job_id).write_bytes(ticket.pdf_path.read_bytes())
    layout.ticket(ticket.job_id).write_text(json.dumps(ticket_to_json(ticket)))


def test_a_press_killed_mid_job_shows_the_refed_sheets_in_its_books(tmp_path, pdfs):
    """A press process killed after feeding sheets it had not saved yet resumes from its last save and feeds
    them again: the books count those sheets twice, every other sheet once, with one print and one resume."""
    folder = tmp_path / "press"
    folder.mkdir()
    ticket = pdfs("J-1", pages=300)
    HotFolderPrinter("press-1", folder).submit(ticket)
    command = [sys.executable, "-m", "printers.drivers.simulated", "--folder", str(folder)]
    press = subprocess.Popen([*command, "--sheets-per-minute", "3000", "--time-scale", "1"])
    state = folder / "state" / "press.json"
    try:
        while True:  # stop it where sheets were fed after the last save, then kill it there
            time.sleep(0.05)
            os.kill(press.pid, signal.SIGSTOP)
            saved = json.loads(state.read_text()).get("job") if state.exists() else None
            fed = len(read_books(folder, "sheet"))
            if saved and 0 < saved["next_sheet"] < fed < 300:
                break
            os.kill(press.pid, signal.SIGCONT)
        os.kill(press.pid, signal.SIGKILL)
    finally:
        press.kill()
        press.wait()
    restarted = SimulatedPress("press-1", folder, sheets_per_minute=60, time_scale=0)
    restarted.step()
    status = HotFolderPrinter("press-1", folder).status("J-1")
    assert status.state is JobState.COMPLETED and status.sheets_completed == 300
    counts = restarted.sheet_counts("J-1")
    refed = set(range(saved["next_sheet"] + 1, fed + 1))
    assert refed and {sheet for (_, sheet), n in counts.items() if n == 2} == refed
    assert set(counts) == {("J-1", sheet) for sheet in range(1, 301)} and max(counts.values()) == 2
    assert restarted.prints("J-1") == 1
    events = [(r["event"], r["print"]) for r in restarted.books("job")]
    assert events == [("started", 1), ("resumed", 1), ("completed", 1)]
    press_sheets = [r["press_sheet"] for r in restarted.books("sheet")]
    assert press_sheets == list(range(1, 301 + len(refed)))  # the counter never rolls back
    assert press_books(folder) == restarted.books()  # a checker reads the same without the press


def test_a_job_printed_twice_leaves_two_outputs_and_two_prints_in_the_books(simulated, pdfs, tmp_path):
    """A second ticket for a job id printed before is a second print: the first output stays as it was, the
    second goes beside it, and the books show two prints of every sheet."""
    printer = simulated()
    ticket = pdfs("J-1", pages=3)
    printer.submit(ticket)
    printer.press.step()
    first = tmp_path / "press" / "output" / "J-1.pdf"
    first_bytes = first.read_bytes()
    drop_second_ticket(tmp_path / "press", ticket)
    printer.press.step()
    second = tmp_path / "press" / "output" / "J-1+2.pdf"
    assert first.read_bytes() == first_bytes and second.exists()
    assert printer.status("J-1").output_path == second
    assert printer.press.prints("J-1") == 2
    assert printer.press.sheet_counts("J-1") == {("J-1", sheet): 2 for sheet in (1, 2, 3)}
    finished = [
        (r["event"], r["print"], r["output"]) for r in printer.press.books("job") if r["event"] != "started"
    ]
    assert finished == [("completed", 1, "output/J-1.pdf"), ("completed", 2, "output/J-1+2.pdf")]


def test_a_finished_job_left_in_work_after_a_crash_is_not_printed_again(simulated, pdfs, tmp_path, clock):
    """A crash between a job's final report and its cleanup leaves its ticket in work/: the books know that
    ticket's print ended, so the restarted press discards it (no second print, no second output)."""
    printer = simulated(time_scale=1)
    printer.submit(pdfs("J-1", pages=2))
    printer.press.step()
    work = tmp_path / "press" / "work"
    left = {path.name: path.read_bytes() for path in work.iterdir()}
    clock.advance(10)
    printer.press.step()
    for name, data in left.items():  # as the crash left them
        (work / name).write_bytes(data)
    restarted = SimulatedPress("press-1", tmp_path / "press", sheets_per_minute=60, time_scale=0)
    restarted.step()
    assert restarted.prints("J-1") == 1 and sum(restarted.sheet_counts().values()) == 2
    assert not list(work.iterdir()) and not (tmp_path / "press" / "output" / "J-1+2.pdf").exists()


def test_the_books_record_jams_cancels_and_unreadable_jobs(simulated, pdfs, tmp_path):
    """A sheet spoiled by a jam is booked as spoiled; a canceled job and a job the press cannot read are
    booked with how they ended."""
    printer = simulated(jams=[2])
    printer.submit(pdfs("J-1", pages=3))
    printer.press.step()
    printer.press.clear_jam()
    printer.press.step()
    outcomes = [(r["sheet"], r["outcome"]) for r in printer.press.books("sheet")]
    assert outcomes == [(1, "out"), (2, "spoiled"), (3, "out")]
    broken = pdfs("J-2")
    broken.pdf_path.write_bytes(b"not a pdf")
    printer.submit(broken)
    printer.press.step()
    events = [(r["job"], r["event"]) for r in printer.press.books("job")]
    assert events == [("J-1", "started"), ("J-1", "completed"), ("J-2", "aborted")]
