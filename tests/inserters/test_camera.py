"""The camera: control codes read from real PDFium renderings of the control zone only."""

from __future__ import annotations

import threading

from inserters.camera import read_sheets
from tests.inserters.stacks import ZONE, make_stack

JOB = "J000007"


def test_camera_reads_every_sheet(tmp_path):
    """Every sheet's DataMatrix is read, in page order."""
    codes = [f"{JOB}|4711|{i}/3" for i in (1, 2, 3)]
    assert read_sheets(make_stack(tmp_path / "s.pdf", codes), ZONE) == codes


def test_empty_zone_reads_none(tmp_path):
    """A sheet with nothing in the control zone reads None."""
    assert read_sheets(make_stack(tmp_path / "s.pdf", [None]), ZONE) == [None]


def test_zone_is_measured_from_the_top_left(tmp_path):
    """Looking at the mirrored zone (same distance from the bottom) finds nothing: y counts from the top."""
    stack = make_stack(tmp_path / "s.pdf", [f"{JOB}|1|1/1"])
    x, y, w, h = ZONE
    mirrored = (x, 841.89 - y - h, w, h)
    assert read_sheets(stack, mirrored) == [None]


def test_zone_off_the_page_reads_none(tmp_path):
    """A zone lying entirely off the sheet sees no code rather than failing."""
    stack = make_stack(tmp_path / "s.pdf", [f"{JOB}|1|1/1"])
    assert read_sheets(stack, (2000.0, 2000.0, 34.0, 34.0)) == [None]


def test_concurrent_reads_agree(tmp_path):
    """Four threads reading stacks at once (PDFium serialised by the camera's lock) all read correctly."""
    codes = [f"{JOB}|{p}|1/1" for p in range(8)]
    stack = make_stack(tmp_path / "s.pdf", codes)
    answers: list[list[str | None]] = []
    threads = [threading.Thread(target=lambda: answers.append(read_sheets(stack, ZONE))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [codes] * 4
