"""CupsPrinter look-ups on a queue with a long history: their cost must not grow with the jobs CUPS keeps.

The queue holds HISTORY finished jobs under other names (submitted directly with pycups to a stopped queue and
canceled, as another client's finished jobs are). Every IPP request the driver makes goes through a recorder
wrapped around the connection the driver holds, so the tests count requests and the jobs each listing brought
back, never time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cups
import pytest

from printers import CupsPrinter, JobState, JobTicket, UnknownJob
from printers.drivers import cups as cups_driver
from tests.printers.cupsd import wait_until_final, write_pdf

#: Finished jobs of other names on the queue before the plant's job.
HISTORY = 300
#: The plant's device job names: ``<plant id>-<job id>`` (plant/fleet/naming.py).
PLANT_JOB = "P7-J000001"


class Recorder:
    """Wraps a pycups connection and records every request: (operation, keyword arguments, answer size)."""

    def __init__(self, connection: cups.Connection) -> None:
        self._connection = connection
        self.calls: list[tuple[str, dict[str, Any], int]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._connection, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            answer = method(*args, **kwargs)
            self.calls.append((name, kwargs, len(answer) if isinstance(answer, dict) else 0))
            return answer

        return call

    def listings(self) -> list[tuple[dict[str, Any], int]]:
        """The Get-Jobs requests recorded: (keyword arguments, jobs answered)."""
        return [(kwargs, size) for name, kwargs, size in self.calls if name == "getJobs"]

    def clear(self) -> None:
        self.calls.clear()


def recorded(printer: CupsPrinter, server_port: int) -> Recorder:
    """Give the driver a recording connection (it keeps the connection it holds until an error drops it)."""
    cups.setServer("127.0.0.1")
    cups.setPort(server_port)
    recorder = Recorder(cups.Connection(host="127.0.0.1", port=server_port))
    printer._connection = recorder  # type: ignore[assignment]
    return recorder


def add_finished_jobs(lab, queue: str, pdf: Path, names: list[str]) -> list[int]:
    """Jobs of the given names on a stopped queue, each then canceled: finished jobs in CUPS's history."""
    conn = lab._connect()
    lab.admin("cupsdisable", queue)
    ids = [conn.printFile(queue, str(pdf), name, {}) for name in names]
    for cups_id in ids:
        conn.cancelJob(cups_id)
    lab.admin("cupsenable", queue)
    return ids


@pytest.fixture(scope="module")
def history(cups_lab, tmp_path_factory):
    """A queue with HISTORY finished jobs of other names, then the plant's job printed: (queue, pdf, ids)."""
    queue = cups_lab.add_queue("history")
    pdf = write_pdf(tmp_path_factory.mktemp("history") / "letter.pdf", 1, label="history")
    ids = add_finished_jobs(cups_lab, queue, pdf, [f"other-{n}" for n in range(HISTORY)])
    printer = CupsPrinter("press-history", cups_lab.server, queue=queue)
    printer.submit(JobTicket(PLANT_JOB, pdf, sheets=1))
    assert wait_until_final(printer, PLANT_JOB).state is JobState.COMPLETED
    yield queue, pdf, ids
    cups_lab.remove_queue(queue)


def test_a_restarted_driver_lists_the_history_once_then_reads_its_job_by_id(history, cups_lab):
    queue, _, ids = history
    printer = CupsPrinter("press-history", cups_lab.server, queue=queue)  # a controller that restarted
    recorder = recorded(printer, cups_lab.port)

    found = printer.find(PLANT_JOB)
    assert found is not None and found.state is JobState.COMPLETED
    [(kwargs, size)] = recorder.listings()  # one listing learns the names of the whole history
    assert kwargs["requested_attributes"] == list(cups_driver.LIST_ATTRIBUTES)
    assert size >= HISTORY + 1

    recorder.clear()
    for _ in range(5):
        assert printer.status(PLANT_JOB).state is JobState.COMPLETED
        assert printer.find(PLANT_JOB) is not None
    assert {name for name, _, _ in recorder.calls} == {"getJobAttributes"}  # by CUPS id, never a listing
    assert len(recorder.calls) == 10


def test_an_unknown_name_lists_only_the_jobs_created_since_the_last_listing(history, cups_lab):
    queue, pdf, ids = history
    printer = CupsPrinter("press-history", cups_lab.server, queue=queue)
    recorder = recorded(printer, cups_lab.port)
    assert printer.find(PLANT_JOB) is not None
    recorder.clear()

    assert printer.find("P7-J000002") is None  # the find before a submit: nothing of that name yet
    [(kwargs, size)] = recorder.listings()
    assert kwargs["first_job_id"] > max(ids)  # none of the history is asked for again
    assert size == 0

    newer = add_finished_jobs(cups_lab, queue, pdf, ["other-new-1", "other-new-2", "P7-J000003"])
    recorder.clear()
    found = printer.find("P7-J000003")
    assert found is not None and found.state is JobState.CANCELED
    [(kwargs, size)] = recorder.listings()
    assert kwargs["first_job_id"] == newer[0]
    assert size == len(newer)


def test_submitting_on_a_long_history_lists_only_new_jobs(history, cups_lab, tmp_path):
    queue, pdf, ids = history
    printer = CupsPrinter("press-history", cups_lab.server, queue=queue)
    recorder = recorded(printer, cups_lab.port)
    assert printer.find(PLANT_JOB) is not None
    recorder.clear()

    cups_lab.admin("cupsdisable", queue)  # the job waits: the test needs no printing
    try:
        status = printer.submit(JobTicket("P7-J000004", pdf, sheets=1))
        assert status.state is JobState.PENDING
        listings = recorder.listings()
        assert len(listings) == 2  # the find before the submit, the claim after the create
        assert all(kwargs["first_job_id"] > max(ids) for kwargs, _ in listings)
        assert sum(size for _, size in listings) <= 1 + 3  # our own job (and the previous test's jobs)
        assert list(cups_lab.jobs_named("P7-J000004")) == [printer._cups_ids["P7-J000004"]]
    finally:
        printer.cancel("P7-J000004")
        cups_lab.admin("cupsenable", queue)


def test_a_purged_job_is_unknown_and_a_younger_one_of_its_name_is_found(history, cups_lab):
    queue, pdf, _ = history
    first, second = add_finished_jobs(cups_lab, queue, pdf, ["P7-J000005", "P7-J000005"])
    printer = CupsPrinter("press-history", cups_lab.server, queue=queue)
    assert printer.find("P7-J000005") is not None
    assert printer._cups_ids["P7-J000005"] == first

    cups_lab.purge_job(first)
    assert printer.status("P7-J000005").state is JobState.CANCELED
    assert printer._cups_ids["P7-J000005"] == second

    cups_lab.purge_job(second)
    with pytest.raises(UnknownJob):
        printer.status("P7-J000005")
    assert printer.find("P7-J000005") is None


def test_the_map_of_names_is_bounded_and_relearned(history, cups_lab, monkeypatch):
    queue, _, _ = history
    monkeypatch.setattr(cups_driver, "REMEMBERED_NAMES", 10)
    printer = CupsPrinter("press-history", cups_lab.server, queue=queue)
    recorder = recorded(printer, cups_lab.port)
    assert printer.find("P7-J000006") is None  # learns the whole history, more names than it keeps
    assert printer.find(PLANT_JOB) is not None  # remembered from that listing: read by id
    assert len(recorder.listings()) == 1

    recorder.clear()
    assert printer.find("P7-J000007") is None  # too many names: forgets them and lists everything once
    [(kwargs, size)] = recorder.listings()
    assert kwargs["first_job_id"] == -1 and size >= HISTORY
    assert printer.find(PLANT_JOB) is not None
