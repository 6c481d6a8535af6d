"""Device-visible names carry the plant id (issue 12, hole 2): two ledgers — a second plant, a staging copy,
a ledger reset — pointed at the same hot folder, simulated press and inserter each print and envelope their
own job ``J000001`` / run ``R000001``; neither "finds" the other's before submitting, and the devices' own
books show both under distinct names ``<plant id>-<ledger id>``. (The same on one CUPS queue:
``tests/printers/test_cups_plant.py``.)"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from inserters import MailRun, RunRecord, SimulatedInserter
from plant.demo import generate
from plant.fleet.naming import NamedInserter, NamedPrinter, named_inserter, named_printer
from plant.ledger import schema as t
from plant.stages.impose import impose
from plant.stages.insert import follow_insert, insert
from plant.stages.spool import follow_print, spool
from plant.testing import (
    accept_batch,
    configure,
    installed_plant,
    plan_submission,
    plant_id,
    read_rows,
)
from printers import HotFolderPrinter, JobTicket, UnknownJob
from printers.books import read_books
from printers.drivers.simulated import SimulatedPress
from tests.plant.operating import pieces
from tests.printers.cupsd import write_pdf


def shared_fleet(tmp_path: Path, name: str):
    """The settings of plant ``name`` (its own state dir and ledger) whose press and inserter folders are
    the ones every plant of the test shares."""
    return configure(
        tmp_path / name,
        job_max_pieces=50,
        printers=[{"name": "press-1", "sheets_per_minute": 6000, "folder": str(tmp_path / "shared-press")}],
        inserters=[{"name": "ins-1", "envelopes_per_hour": 36000, "folder": str(tmp_path / "shared-ins")}],
    )[1]


def first_job_imposed(plant, batch) -> str:
    """Plan the batch in ``plant`` and impose its first job; the job id."""
    accept_batch(plant, batch.submission, batch.consents)
    plan_submission(plant.submission_id)
    job_id = read_rows(plant, select(t.print_jobs.c.job_id).order_by(t.print_jobs.c.number))[0].job_id
    impose(job_id)
    return job_id


def test_two_ledgers_on_one_hot_folder_press_and_inserter_each_print_their_own_paper(tmp_path):
    batch = generate(tmp_path / "in", 4, seed=3)
    press_folder, seen = tmp_path / "shared-press", {}
    press_folder.mkdir()  # the RIP's share, mounted for both plants
    for name in ("a", "b"):
        settings = shared_fleet(tmp_path, name)
        with installed_plant(settings) as plant:
            job_id = first_job_imposed(plant, batch)
            driver = plant.printers["press-1"]
            assert driver.device_name(job_id) == f"{plant.plant_id}-{job_id}"
            # whatever the other plant left on the press under the same ledger id is not this plant's job
            assert driver.find(job_id) is None
            spool(job_id)
            assert driver.find(job_id) is not None  # its own, submitted under its own name
            SimulatedPress("press-1", press_folder, 6000, time_scale=0).step()
            follow_print(job_id)
            (run,) = read_rows(plant, select(t.insert_runs).where(t.insert_runs.c.job_id == job_id))
            insert(run.run_id)
            plant.inserters["ins-1"].step()
            follow_insert(run.run_id)
            members = pieces(plant, t.pieces.c.job_id == job_id)
            assert members and {m.state for m in members} == {"INSERTED"}
            seen[name] = (plant.plant_id, job_id, run.run_id, len(members))
    (a, job_a, run_a, pieces_a), (b, job_b, run_b, pieces_b) = seen["a"], seen["b"]
    assert a != b and (job_a, run_a) == (job_b, run_b) == ("J000001", "R000001")  # the same ledger ids
    assert plant_id(tmp_path / "a" / "state") == a  # created once with the ledger, kept
    names = {f"{a}-J000001", f"{b}-J000001"}
    assert {p.stem for p in (press_folder / "output").glob("*.pdf")} == names  # two prints, two files
    press = read_books(press_folder / "books.jsonl")
    out = Counter(r["job"] for r in press if r.get("kind") == "sheet" and r.get("outcome") == "out")
    assert set(out) == names and all(n > 0 for n in out.values())
    envelopes = [
        r for r in read_books(tmp_path / "shared-ins" / "books.jsonl") if r.get("kind") == "envelope"
    ]
    runs = Counter(r["run"] for r in envelopes if r.get("outcome") == "inserted")
    assert runs == {f"{a}-R000001": pieces_a, f"{b}-R000001": pieces_b}


def test_a_job_of_another_plant_or_of_no_plant_is_never_found(tmp_path):
    """A hot folder holding ``J000001`` as a plant without ids named it, and as another plant: neither is
    this plant's J000001 — find says None, status says the press has no such job — and this plant's own job
    is submitted, found and followed under its own name."""
    pdf = write_pdf(tmp_path / "job.pdf")
    (tmp_path / "shared").mkdir()
    folder = HotFolderPrinter("press-1", tmp_path / "shared")
    folder.submit(JobTicket("J000001", pdf, 1))
    folder.submit(JobTicket("00000000-J000001", pdf, 1))
    ours = named_printer(HotFolderPrinter("press-1", tmp_path / "shared"), "3fa9c21b")
    assert isinstance(ours, NamedPrinter) and ours.find_proves_absence  # the driver's flags come through
    assert ours.find("J000001") is None
    with pytest.raises(UnknownJob):
        ours.status("J000001")
    submitted = ours.submit(JobTicket("J000001", pdf, 1))
    assert submitted.job_id == "J000001" and ours.find("J000001").job_id == "J000001"
    assert (tmp_path / "shared" / "submitted" / "3fa9c21b-J000001.json").exists()
    assert ours.withdraw("J000001") is True  # withdrawn under its device name, reported by its ledger id
    assert (tmp_path / "shared" / "submitted" / "J000001.json").exists()  # the foreign jobs untouched


def test_runs_are_named_for_the_plant_on_a_shared_inserter(tmp_path):
    """An inserter shared by two plants: each plant's run R000001 is its own, the other's is never found, and
    a withdrawal takes back only this plant's run."""
    shared = tmp_path / "ins"
    one, two = (named_inserter(SimulatedInserter("ins-1", shared), p) for p in ("aaaaaaaa", "bbbbbbbb"))
    assert isinstance(one, NamedInserter)
    run = MailRun("R000001", "J000001", (RunRecord("1", 1),), write_pdf(tmp_path / "s.pdf"), (0, 0, 10, 10))
    one.submit(run)
    assert two.find("R000001") is None and one.find("R000001").run_id == "R000001"
    two.submit(run)
    assert sorted(p.stem for p in (shared / "runs").glob("*.csv")) == ["aaaaaaaa-R000001", "bbbbbbbb-R000001"]
    assert one.withdraw("R000001") is True
    assert [p.name for p in (shared / "withdrawn").iterdir()] == ["aaaaaaaa-R000001.json"]
    assert two.find("R000001").waiting  # the other plant's run is still there, untouched
