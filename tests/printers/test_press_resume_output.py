"""A press restarted after a crash resumes its job from the last saved position and feeds the sheets after
it again. Its output (what came out of the press, in order: the stack the inserter's camera reads) must hold
those sheets twice, exactly as its books show them ``out``: the device's books and its tray agree sheet for
sheet."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pikepdf

from printers import JobState, SimulatedPress
from printers.books import read_books
from printers.drivers.hotfolder import HotFolderLayout, ticket_to_json

Saved = dict[Path, bytes]


def last_save(folder: Path, job_id: str) -> Saved:
    """The press's saved state files as they are now (its position and the job's reported status)."""
    files = [folder / "state" / "press.json", HotFolderLayout(folder).status(job_id)]
    return {path: path.read_bytes() for path in files}


def crash(saved: Saved) -> None:
    """Lose every save since ``saved`` was taken, as a kill -9 before the next save does: the state files go
    back to what they were then; the books (fsynced per sheet) keep every sheet fed since."""
    for path, data in saved.items():
        path.write_bytes(data)


def booked_out(folder: Path, job_id: str, print_no: int = 1) -> list[int]:
    """The 1-based sheets of one print the books show ``out``, in the books' order."""
    return [
        r["sheet"]
        for r in read_books(folder, "sheet")
        if r["job"] == job_id and r["print"] == print_no and r["outcome"] == "out"
    ]


def page_digests(path: Path) -> list[str]:
    """A digest of each page's content stream."""
    with pikepdf.open(path) as pdf:
        return [hashlib.sha256(page.obj.Contents.read_bytes()).hexdigest() for page in pdf.pages]


def assert_books_and_output_agree(folder: Path, ticket, output: Path, page_texts, print_no: int = 1) -> None:
    """One-sided, one copy: sheet n is page n. The output is the booked sheets, page for page."""
    sheets = booked_out(folder, ticket.job_id, print_no)
    assert page_texts(output) == [f"{ticket.job_id} page {sheet}" for sheet in sheets]
    source = page_digests(ticket.pdf_path)
    assert page_digests(output) == [source[sheet - 1] for sheet in sheets]


def test_sheets_fed_again_after_a_crash_lie_twice_in_the_output(simulated, pdfs, clock, tmp_path, page_texts):
    """Sheets 3–5 were fed after the last save when the press died: the restarted press feeds them again, and
    the output holds 1..5, then 3..6 — what the books show out, in their order. A press stopped right at a
    save feeds nothing again: the next job, resumed there, comes out once."""
    folder = tmp_path / "press"
    printer = simulated(time_scale=1)  # a sheet a second, saved after every sheet
    ticket = pdfs("J-1", pages=6)
    printer.submit(ticket)
    printer.press.step()  # taken at t=0
    clock.advance(2.5)
    printer.press.step()  # sheets 1 and 2 out, saved
    saved = last_save(folder, "J-1")
    clock.advance(3)
    printer.press.step()  # sheets 3, 4 and 5 out; then the press dies before those saves reach the disk
    crash(saved)
    again = SimulatedPress("press-1", folder, 60, time_scale=1, clock=clock)
    clock.advance(10)
    again.step()
    status = printer.status("J-1")
    assert status.state is JobState.COMPLETED and status.output_path == folder / "output" / "J-1.pdf"
    assert booked_out(folder, "J-1") == [1, 2, 3, 4, 5, 3, 4, 5, 6]
    events = [(r["event"], r.get("sheet")) for r in again.books("job")]
    assert events[:2] == [("started", None), ("resumed", 3)]
    assert page_texts(status.output_path) == [f"J-1 page {i}" for i in (1, 2, 3, 4, 5, 3, 4, 5, 6)]
    assert_books_and_output_agree(folder, ticket, status.output_path, page_texts)
    normal = pdfs("J-2", pages=5)
    printer.submit(normal)
    again.step()  # taken
    clock.advance(2.5)
    again.step()  # sheets 1 and 2 out, saved; the press stops here
    SimulatedPress("press-1", folder, 60, time_scale=0, clock=clock).step()
    output = printer.status("J-2").output_path
    assert output is not None and page_texts(output) == [f"J-2 page {i}" for i in range(1, 6)]
    assert_books_and_output_agree(folder, normal, output, page_texts)


def test_a_crash_during_the_reprint_after_a_restart_from_page_1(simulated, pdfs, clock, tmp_path, page_texts):
    """Jam at sheet 3 (spoiled), restart from page 1, a crash after reprinted sheets 2 and 3 went unsaved: the
    output holds 1, 2 (first pass), 1, 2, 3 (reprint before the crash), 2..5 (fed again) — never the spoiled
    sheet, and exactly what the books show out."""
    folder = tmp_path / "press"
    printer = simulated(time_scale=1, jams=(3,))
    ticket = pdfs("J-1", pages=5)
    printer.submit(ticket)
    printer.press.step()  # taken at t=0: sheets out at t=1, 2, and 3 jams
    clock.advance(3.5)
    printer.press.step()
    assert printer.status("J-1").state is JobState.STOPPED
    assert printer.press.restart("J-1") is True
    clock.advance(1.5)
    printer.press.step()  # sheet 1 of the reprint, saved
    saved = last_save(folder, "J-1")
    clock.advance(2)
    printer.press.step()  # sheets 2 and 3 of the reprint, their saves lost
    crash(saved)
    again = SimulatedPress("press-1", folder, 60, time_scale=0, clock=clock)
    again.step()
    status = printer.status("J-1")
    assert status.state is JobState.COMPLETED
    assert booked_out(folder, "J-1") == [1, 2, 1, 2, 3, 2, 3, 4, 5]
    assert page_texts(status.output_path) == [f"J-1 page {i}" for i in (1, 2, 1, 2, 3, 2, 3, 4, 5)]
    assert_books_and_output_agree(folder, ticket, status.output_path, page_texts)
    assert [r["event"] for r in again.books("job")] == ["started", "restarted", "resumed", "completed"]


def test_two_sided_copies_fed_again_keep_their_pages(simulated, pdfs, clock, tmp_path, page_texts):
    """Two-sided, two copies of a 3-page document (sheets: 1–2, 3, 1–2, 3): sheets 2 and 3 fed again after a
    crash put their pages in the output twice, in the books' order."""
    folder = tmp_path / "press"
    printer = simulated(time_scale=1)
    printer.submit(pdfs("J-1", pages=3, copies=2, sides="two-sided-long-edge"))
    printer.press.step()
    clock.advance(1.5)
    printer.press.step()  # sheet 1 out, saved
    saved = last_save(folder, "J-1")
    clock.advance(2)
    printer.press.step()  # sheets 2 and 3 out, their saves lost
    crash(saved)
    SimulatedPress("press-1", folder, 60, time_scale=0, clock=clock).step()
    status = printer.status("J-1")
    assert status.state is JobState.COMPLETED
    assert booked_out(folder, "J-1") == [1, 2, 3, 2, 3, 4]
    pages_of_sheet = {1: (1, 2), 2: (3,), 3: (1, 2), 4: (3,)}
    expected = [f"J-1 page {page}" for sheet in booked_out(folder, "J-1") for page in pages_of_sheet[sheet]]
    assert page_texts(status.output_path) == expected
    assert len(expected) == 9


def test_jobs_after_a_resumed_one_and_its_second_print_come_out_once(
    simulated, pdfs, clock, tmp_path, page_texts
):
    """The sheets a crashed print fed belong to that print only: the next job's output, and a second print of
    the same job id, hold every page once, as a normal job's output always did."""
    folder = tmp_path / "press"
    printer = simulated(time_scale=1)
    first = pdfs("J-1", pages=4)
    printer.submit(first)
    printer.press.step()
    clock.advance(1.5)
    printer.press.step()
    saved = last_save(folder, "J-1")
    clock.advance(2)
    printer.press.step()
    crash(saved)
    second = pdfs("J-2", pages=3)
    printer.submit(second)
    again = SimulatedPress("press-1", folder, 60, time_scale=0, clock=clock)
    again.step()
    assert page_texts(folder / "output" / "J-1.pdf") == [f"J-1 page {i}" for i in (1, 2, 3, 2, 3, 4)]
    assert_books_and_output_agree(folder, first, folder / "output" / "J-1.pdf", page_texts)
    assert printer.status("J-2").state is JobState.COMPLETED
    assert page_texts(folder / "output" / "J-2.pdf") == [f"J-2 page {i}" for i in (1, 2, 3)]
    assert_books_and_output_agree(folder, second, folder / "output" / "J-2.pdf", page_texts)
    first_output = (folder / "output" / "J-1.pdf").read_bytes()
    layout = HotFolderLayout(folder)  # a second ticket for J-1, as an operator at the RIP would drop it
    layout.document("J-1").write_bytes(first.pdf_path.read_bytes())
    layout.ticket("J-1").write_text(json.dumps(ticket_to_json(first)))
    again.step()
    reprint = folder / "output" / "J-1+2.pdf"
    assert again.prints("J-1") == 2 and (folder / "output" / "J-1.pdf").read_bytes() == first_output
    assert page_texts(reprint) == [f"J-1 page {i}" for i in (1, 2, 3, 4)]
    assert_books_and_output_agree(folder, first, reprint, page_texts, print_no=2)
