"""The simulated press's operator may restart a jammed job from its first sheet, as on a real press: the
sheets already out come out again, the press's books show the restart and every sheet fed again under its
own sheet number, and the output holds what came out of the press, in order."""

from __future__ import annotations

from printers import JobState, PrinterState, SimulatedPress
from printers.drivers.simulated import main, press_books, request_restart, restart_request


def test_restart_after_a_jam_prints_the_job_again_from_sheet_1(simulated, pdfs, page_texts):
    """Jam at sheet 3 (spoiled), restart: sheets 1 and 2 come out twice, the output holds 1, 2, then 1..6;
    the books show one print, its restart and the re-fed sheets with the same sheet numbers."""
    printer = simulated(jams=(3,))
    printer.submit(pdfs("J-1", pages=6))
    printer.press.step()
    assert printer.status("J-1").state is JobState.STOPPED
    assert printer.press.restart("J-1") is True
    printer.press.step()
    status = printer.status("J-1")
    assert (status.state, status.sheets_completed) == (JobState.COMPLETED, 8)
    assert "restarted from sheet 1" in status.message
    expected = [f"J-1 page {i}" for i in (1, 2, 1, 2, 3, 4, 5, 6)]
    assert page_texts(status.output_path) == expected
    assert printer.printer_status().state is PrinterState.IDLE
    jobs = [(r["event"], r["print"]) for r in printer.press.books("job")]
    assert jobs == [("started", 1), ("restarted", 1), ("completed", 1)]
    (restart,) = printer.press.restarts("J-1")
    assert (restart["sheet"], restart["sheets_out"]) == (3, 2)
    sheets = [(r["sheet"], r["print"], r["outcome"]) for r in printer.press.books("sheet")]
    assert sheets == [(1, 1, "out"), (2, 1, "out"), (3, 1, "spoiled")] + [(n, 1, "out") for n in range(1, 7)]
    assert [r["press_sheet"] for r in printer.press.books("sheet")] == list(range(1, 10))
    counts = printer.press.sheet_counts("J-1")
    assert {sheet: n for (_, sheet), n in counts.items()} == {1: 2, 2: 2, 3: 2, 4: 1, 5: 1, 6: 1}
    assert printer.press.prints("J-1") == 1


def test_restart_needs_the_job_on_the_press(simulated, pdfs):
    """A restart of another job, or on an idle press, does nothing and says so."""
    printer = simulated(jams=(2,))
    assert printer.press.restart() is False
    printer.submit(pdfs("J-1", pages=3))
    printer.press.step()
    assert printer.press.restart("J-9") is False
    assert printer.status("J-1").state is JobState.STOPPED and printer.press.restarts() == []


def test_control_file_restarts_the_job_from_another_process(simulated, pdfs, tmp_path, page_texts):
    """request_restart drops control/restart/<job>; the press honours it, removes it and the job completes
    with the reprinted sheets after the first ones (jam sparing the sheet: 1, 2, then 1..4)."""
    printer = simulated(jams=(2,), jam_spoils_sheet=False)
    printer.submit(pdfs("J-1", pages=4))
    printer.press.step()
    assert "control/restart/J-1" in printer.status("J-1").message
    request = request_restart(tmp_path / "press", "J-1")
    assert request == restart_request(tmp_path / "press", "J-1") and request.exists()
    printer.press.step()
    assert not request.exists()
    status = printer.status("J-1")
    assert (status.state, status.sheets_completed) == (JobState.COMPLETED, 6)
    assert page_texts(status.output_path) == [f"J-1 page {i}" for i in (1, 2, 1, 2, 3, 4)]
    events = [r["event"] for r in press_books(tmp_path / "press", "job")]
    assert events == ["started", "restarted", "completed"]


def test_a_stale_restart_request_is_dropped(simulated, pdfs, tmp_path):
    """A request for a job that is not on the press is removed without restarting anything."""
    printer = simulated()
    request = request_restart(tmp_path / "press", "J-0")
    printer.submit(pdfs("J-1", pages=2))
    printer.press.step()
    assert not request.exists() and printer.press.restarts() == []
    assert printer.status("J-1").sheets_completed == 2


def test_a_press_restarted_mid_reprint_keeps_the_first_pass(simulated, pdfs, clock, tmp_path, page_texts):
    """A press process that stops during the reprint resumes it from its saved position, and its output
    still holds the sheets of the pass before the restart."""
    printer = simulated(time_scale=1, jams=(3,))
    printer.submit(pdfs("J-1", pages=5))
    printer.press.step()  # taken at t=0: sheets out at t=1, 2, and 3 jams
    clock.advance(3.5)
    printer.press.step()
    assert printer.status("J-1").state is JobState.STOPPED
    printer.press.restart("J-1")
    clock.advance(2.5)  # two sheets of the reprint
    printer.press.step()
    assert printer.status("J-1").sheets_completed == 4
    again = SimulatedPress("press-1", tmp_path / "press", sheets_per_minute=60, time_scale=0, clock=clock)
    again.step()
    status = printer.status("J-1")
    assert (status.state, status.sheets_completed) == (JobState.COMPLETED, 7)
    assert page_texts(status.output_path) == [f"J-1 page {i}" for i in (1, 2, 1, 2, 3, 4, 5)]
    assert [r["event"] for r in again.books("job")] == ["started", "restarted", "resumed", "completed"]


def test_command_line_drops_restart_and_clear_requests(tmp_path, capsys):
    """`--restart-job JOB` and `--clear-jam` drop the control file for a running press and exit 0; a name
    that cannot be a job exits 2 saying where to find the right one."""
    folder = tmp_path / "p"
    assert main(["--folder", str(folder), "--restart-job", "J-7"]) == 0
    assert (folder / "control" / "restart" / "J-7").exists()
    assert main(["--folder", str(folder), "--clear-jam"]) == 0
    assert (folder / "control" / "clear").exists()
    assert main(["--folder", str(folder), "--restart-job", "../x"]) == 2
    assert "current_job" in capsys.readouterr().err
