"""The simulated press: it prints what it was given, at its speed, jams, clears, cancels and survives
restarts.

Every test drives the press with `press.step()` and a fake clock; nothing sleeps.
"""

from __future__ import annotations

import json
import threading

import pytest

from printers import JobState, PrinterState, SimulatedPress
from printers.drivers.simulated import main, parse_args, press_from_args


def test_press_prints_every_sheet_of_a_job_into_output(simulated, pdfs, page_texts):
    """A completed job's output has the job's pages, in order, with the same content."""
    printer = simulated()
    printer.submit(pdfs("J-1", pages=5))
    printer.press.step()
    status = printer.status("J-1")
    assert page_texts(status.output_path) == [f"J-1 page {i}" for i in range(1, 6)]


def test_completed_job_reports_state_and_sheet_count(simulated, pdfs):
    """After the last sheet the job is COMPLETED with every sheet counted."""
    printer = simulated()
    printer.submit(pdfs("J-1", pages=5))
    printer.press.step()
    status = printer.status("J-1")
    assert (status.state, status.sheets_completed, status.reasons) == (
        JobState.COMPLETED,
        5,
        ("job-completed-successfully",),
    )


def test_press_takes_jobs_in_arrival_order(simulated, pdfs, clock):
    """Two waiting jobs print one after the other, the first submitted first."""
    printer = simulated(time_scale=1)
    printer.submit(pdfs("B-first", pages=2))
    printer.submit(pdfs("A-second", pages=2))
    printer.press.step()
    clock.advance(2)
    printer.press.step()
    assert printer.status("B-first").state is JobState.COMPLETED
    assert printer.status("A-second").state is JobState.PROCESSING


def test_ticket_and_pdf_leave_the_folder_when_taken(simulated, pdfs, clock, tmp_path):
    """The press moves a job it takes out of the hot folder into work/."""
    printer = simulated(time_scale=1)
    printer.submit(pdfs("J-1", pages=3))
    printer.press.step()
    assert sorted(p.name for p in (tmp_path / "press" / "work").iterdir()) == ["J-1.json", "J-1.pdf"]
    assert not (tmp_path / "press" / "J-1.json").exists()


def test_two_sided_copies_print_sheets_of_two_pages_per_copy(simulated, pdfs, page_texts):
    """Two-sided, 2 copies of a 3-page PDF: 2 sheets per copy, 4 sheets, pages repeated per copy."""
    printer = simulated()
    printer.submit(pdfs("J-1", pages=3, copies=2, sides="two-sided-long-edge"))
    printer.press.step()
    status = printer.status("J-1")
    assert status.sheets_completed == 4
    assert page_texts(status.output_path) == [f"J-1 page {i}" for i in (1, 2, 3, 1, 2, 3)]


def test_ten_sheets_at_60_per_minute_take_ten_device_seconds(simulated, pdfs, clock):
    """At 60 sheets/min and time_scale 1, a 10-sheet job is not done at 9.99 s and done at 10 s."""
    printer = simulated(time_scale=1)
    printer.submit(pdfs("J-1", pages=10))
    printer.press.step()
    clock.advance(9.99)
    printer.press.step()
    assert (printer.status("J-1").state, printer.status("J-1").sheets_completed) == (JobState.PROCESSING, 9)
    clock.advance(0.01)
    printer.press.step()
    assert printer.status("J-1").state is JobState.COMPLETED


@pytest.mark.parametrize(("time_scale", "seconds"), [(0.5, 5.0), (2.0, 20.0)])
def test_time_scale_scales_the_clock_time_a_job_takes(simulated, pdfs, clock, time_scale, seconds):
    """time_scale is clock seconds per device second: 10 device seconds take 10 × time_scale on the clock."""
    printer = simulated(time_scale=time_scale)
    printer.submit(pdfs("J-1", pages=10))
    printer.press.step()
    clock.advance(seconds - 0.001)
    printer.press.step()
    assert printer.status("J-1").state is JobState.PROCESSING
    clock.advance(0.001)
    printer.press.step()
    assert printer.status("J-1").state is JobState.COMPLETED


def test_progress_is_reported_while_printing(simulated, pdfs, clock):
    """Mid-job, the status file shows PROCESSING with the sheets out so far."""
    printer = simulated(time_scale=1)
    printer.submit(pdfs("J-1", pages=10))
    printer.press.step()
    clock.advance(4)
    printer.press.step()
    status = printer.status("J-1")
    assert (status.state, status.sheets_completed) == (JobState.PROCESSING, 4)


def test_jam_stops_job_and_printer(simulated, pdfs):
    """At the configured lifetime sheet the job is STOPPED and the printer STOPPED with media-jam."""
    printer = simulated(jams=(3,))
    printer.submit(pdfs("J-1", pages=6))
    printer.press.step()
    job, device = printer.status("J-1"), printer.printer_status()
    assert (job.state, job.sheets_completed) == (JobState.STOPPED, 2)
    assert (device.state, device.reasons) == (PrinterState.STOPPED, ("media-jam",))


def test_jammed_press_stays_stopped_until_cleared(simulated, pdfs, clock):
    """Without a clear, however much time passes, the jammed press prints nothing more."""
    printer = simulated(time_scale=1, jams=(3,))
    printer.submit(pdfs("J-1", pages=6))
    printer.press.step()
    clock.advance(3600)
    printer.press.step()
    assert printer.status("J-1").state is JobState.STOPPED


def test_cleared_jam_completes_the_job_without_the_spoiled_sheet(simulated, pdfs, page_texts):
    """After clear_jam the job completes; the sheet destroyed in the jam is missing from output."""
    printer = simulated(jams=(3,))
    printer.submit(pdfs("J-1", pages=6))
    printer.press.step()
    printer.press.clear_jam()
    printer.press.step()
    status = printer.status("J-1")
    assert (status.state, status.sheets_completed) == (JobState.COMPLETED, 5)
    assert page_texts(status.output_path) == [f"J-1 page {i}" for i in (1, 2, 4, 5, 6)]
    assert printer.printer_status().state is PrinterState.IDLE


def test_jam_that_spares_the_sheet_keeps_it_in_output(simulated, pdfs, page_texts):
    """With jam_spoils_sheet=False every sheet comes out after the clear."""
    printer = simulated(jams=(3,), jam_spoils_sheet=False)
    printer.submit(pdfs("J-1", pages=6))
    printer.press.step()
    printer.press.clear_jam()
    printer.press.step()
    assert page_texts(printer.status("J-1").output_path) == [f"J-1 page {i}" for i in range(1, 7)]


def test_jams_count_press_lifetime_sheets_across_jobs(simulated, pdfs):
    """A jam at lifetime sheet 5 hits the second sheet of the second 3-sheet job."""
    printer = simulated(jams=(5,))
    printer.submit(pdfs("J-1", pages=3))
    printer.submit(pdfs("J-2", pages=3))
    printer.press.step()
    assert printer.status("J-1").state is JobState.COMPLETED
    assert (printer.status("J-2").state, printer.status("J-2").sheets_completed) == (JobState.STOPPED, 1)


def test_control_file_clears_the_jam(simulated, pdfs, tmp_path):
    """Another process clears a jam by writing control/clear; the press removes the file and goes on."""
    printer = simulated(jams=(2,))
    printer.submit(pdfs("J-1", pages=4))
    printer.press.step()
    (tmp_path / "press" / "control" / "clear").write_text("")
    printer.press.step()
    assert printer.status("J-1").state is JobState.COMPLETED
    assert not (tmp_path / "press" / "control" / "clear").exists()


def test_jam_clears_itself_after_auto_clear_device_seconds(simulated, pdfs, clock):
    """With auto_clear_after_s=30 the jam lasts 30 device seconds, then the next sheet follows one sheet
    later."""
    printer = simulated(time_scale=1, jams=(2,), auto_clear_after_s=30)
    printer.submit(pdfs("J-1", pages=3))
    printer.press.step()
    clock.advance(2 + 29.9)  # jam at t=2
    printer.press.step()
    assert printer.printer_status().state is PrinterState.STOPPED
    clock.advance(0.1 + 1)  # cleared at t=32, sheet 3 out at t=33
    printer.press.step()
    assert printer.status("J-1").state is JobState.COMPLETED


def test_printer_status_is_readable_from_another_driver(simulated, pdfs, tmp_path):
    """printer.json lets a driver in another process (here: a fresh instance) see the jam."""
    from printers import HotFolderPrinter

    printer = simulated(jams=(1,))
    printer.submit(pdfs("J-1", pages=2))
    printer.press.step()
    other = HotFolderPrinter("press-1", tmp_path / "press").printer_status()
    assert (other.state, other.reasons, other.queued_jobs) == (PrinterState.STOPPED, ("media-jam",), 1)


def test_restarted_press_resumes_the_job_from_the_recorded_sheet(
    simulated, pdfs, clock, tmp_path, page_texts
):
    """A new press on the same folder continues the job in work/ from its recorded sheet, not from the
    start."""
    printer = simulated(time_scale=1)
    printer.submit(pdfs("J-1", pages=6))
    printer.press.step()
    clock.advance(4)
    printer.press.step()  # 4 sheets out, recorded; then the press "crashes"
    restarted = SimulatedPress("press-1", tmp_path / "press", 60, time_scale=0, clock=clock)
    restarted.step()
    status = printer.status("J-1")
    assert (status.state, status.sheets_completed, restarted.lifetime_sheets) == (JobState.COMPLETED, 6, 6)
    assert page_texts(status.output_path) == [f"J-1 page {i}" for i in range(1, 7)]


def test_restarted_press_stays_jammed(simulated, pdfs, clock, tmp_path):
    """A jam recorded before a restart still stops the restarted press."""
    printer = simulated(jams=(2,))
    printer.submit(pdfs("J-1", pages=4))
    printer.press.step()
    restarted = SimulatedPress("press-1", tmp_path / "press", 60, time_scale=0, clock=clock)
    restarted.step()
    assert restarted.state is PrinterState.STOPPED
    assert printer.status("J-1").state is JobState.STOPPED


def test_cancel_stops_a_printing_job(simulated, pdfs, clock, page_texts):
    """Canceling mid-job ends it CANCELED with the sheets already out in output."""
    printer = simulated(time_scale=1)
    printer.submit(pdfs("J-1", pages=10))
    printer.press.step()
    clock.advance(3)
    printer.press.step()
    printer.cancel("J-1")
    printer.press.step()  # the press sees the request at its next step
    clock.advance(10)
    printer.press.step()
    status = printer.status("J-1")
    assert (status.state, status.sheets_completed) == (JobState.CANCELED, 3)
    assert page_texts(status.output_path) == ["J-1 page 1", "J-1 page 2", "J-1 page 3"]


def test_cancel_of_a_waiting_job_never_prints_it(simulated, pdfs, clock, tmp_path):
    """A job canceled while another prints is CANCELED with no sheets and never reaches the press."""
    printer = simulated(time_scale=1)
    printer.submit(pdfs("J-1", pages=3))
    printer.submit(pdfs("J-2", pages=3))
    printer.press.step()
    printer.cancel("J-2")
    clock.advance(10)
    printer.press.step()
    assert (printer.status("J-2").state, printer.status("J-2").sheets_completed) == (JobState.CANCELED, 0)
    assert not (tmp_path / "press" / "output" / "J-2.pdf").exists()


def test_unreadable_pdf_aborts_the_job(simulated, pdfs, tmp_path):
    """A job whose PDF the press cannot open ends ABORTED with document-format-error."""
    printer = simulated()
    ticket = pdfs("J-1")
    ticket.pdf_path.write_bytes(b"not a pdf")
    printer.submit(ticket)
    printer.press.step()
    status = printer.status("J-1")
    assert (status.state, status.reasons) == (
        JobState.ABORTED,
        ("aborted-by-system", "document-format-error"),
    )


def test_run_loop_returns_when_stop_is_set(simulated, pdfs):
    """run() checks its stop event before each step, so a set event ends it without printing."""
    printer = simulated()
    printer.submit(pdfs("J-1", pages=2))
    stop = threading.Event()
    stop.set()
    printer.press.run(stop)
    assert printer.status("J-1").state is JobState.PENDING  # the loop checks stop before each step


def test_command_line_builds_the_configured_press(tmp_path):
    """The module's command line maps its flags onto SimulatedPress options."""
    args = parse_args(
        [
            "--folder",
            str(tmp_path / "p"),
            "--sheets-per-minute",
            "90",
            "--time-scale",
            "0",
            "--jam",
            "3",
            "--jam",
            "7",
            "--keep-jammed-sheet",
            "--auto-clear-after",
            "5",
        ]
    )
    press = press_from_args(args)
    assert (
        press.name,
        press.sheets_per_minute,
        press.time_scale,
        press.jams,
        press.jam_spoils_sheet,
        press.auto_clear_after_s,
    ) == ("p", 90, 0, frozenset({3, 7}), False, 5)
    assert json.loads((tmp_path / "p" / "status" / "printer.json").read_text())["state"] == "idle"
    assert callable(main)


def test_module_runs_as_a_program(tmp_path):
    """`python -m printers.drivers.simulated --help` exits 0, without runpy's double-import warning."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "printers.drivers.simulated", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "--sheets-per-minute" in done.stdout
