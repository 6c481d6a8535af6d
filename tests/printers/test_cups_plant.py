"""The whole plant on a CUPS press: a batch goes through a real cupsd and ippeveprinter to dispatch, each job
sent to CUPS exactly once under its job id, and a stopped queue holds the batch without losing or doubling a
job until an operator enables it again."""

from __future__ import annotations

import json
import secrets
from collections import Counter, defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from plant.config import load_settings
from plant.fleet.devices import make_printer_drivers
from plant.intake.submission import intake
from plant.ledger import schema as t
from plant.runtime.session import Session
from plant.stages.spool import hand_over
from plant.testing import device_name
from printers import CupsPrinter, JobTicket
from tests.plant.helpers import read_csv, wait_for
from tests.printers.cupsd import write_pdf

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_leftover_redis")]

#: Seconds a batch may take before the test fails (it takes a few; this only bounds a hang).
BATCH_TIMEOUT_S = 120
#: One CUPS press and one simulated inserter; the CUPS server and queue are filled in per test.
FLEET = """
[[printers]]
name = "press-cups"
driver = "cups"
server = "{server}"
queue = "{queue}"
sheets_per_minute = 600

[[inserters]]
name = "ins-1"
envelopes_per_hour = 36000
"""


@pytest.fixture
def cups_plant(tmp_path, cups_lab, cups_queue):
    """A running plant session (a worker, the relay, a simulated inserter) whose only press is a fresh queue
    of the lab; ``session.queue`` names the queue."""
    queue = cups_queue()
    config = tmp_path / "plant.toml"
    config.write_text(FLEET.format(server=cups_lab.server, queue=queue))
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})
    with Session(settings, config_path=config, progress=False) as session:
        session.queue = queue
        yield session


def submit(session: Session, batch) -> str:
    """Accept ``batch`` into the running plant and wake the relay; return the submission id."""
    submission_id = intake(session.plant.ledger, session.settings, batch.submission).submission_id
    session.relay.wake.set()
    return submission_id


def rows(session: Session, statement) -> list:
    """The rows of ``statement`` on the session's ledger."""
    with session.plant.ledger.read() as conn:
        return conn.execute(statement).all()


def plant_jobs(session: Session) -> dict[str, Path]:
    """Every print job of the ledger: its id and the PDF the plant spooled."""
    jobs = rows(session, select(t.print_jobs.c.job_id, t.print_jobs.c.pdf_path))
    return {job_id: Path(pdf) for job_id, pdf in jobs}


def cups_jobs(lab, queue: str, job_id: str) -> list[dict]:
    """The lab's CUPS jobs named ``job_id`` on ``queue`` (finished ones too)."""
    return [
        attrs
        for attrs in lab.jobs_named(job_id).values()
        if str(attrs["job-printer-uri"]).endswith(f"/printers/{queue}")
    ]


def received_since(lab, before: set[Path]) -> dict[str, list[Path]]:
    """The documents ippeveprinter kept since ``before`` was listed, by job name (lower-cased, as in its
    files)."""
    found = defaultdict(list)
    for path in sorted(set(lab.eve_spool.iterdir()) - before):
        if path.suffix != ".prn":
            found[path.stem.split("-", 1)[1]].append(path)
    return found


def events(session: Session, entity: str) -> list[tuple[str, str]]:
    """(entity id, event) of every event on ``entity`` rows, in order."""
    return rows(
        session,
        select(t.events.c.entity_id, t.events.c.event)
        .where(t.events.c.entity == entity)
        .order_by(t.events.c.id),
    )


def assert_each_job_sent_once(session, lab, before: set[Path]) -> None:
    """Every plant job is one CUPS job of its name on the queue, and the press received its PDF once,
    unchanged."""
    jobs = plant_jobs(session)
    received = received_since(lab, before)
    names = {job_id: device_name(session, job_id) for job_id in jobs}  # CUPS knows <plant id>-<job id>
    assert jobs and sorted(received) == sorted(name.lower() for name in names.values())
    for job_id, pdf in jobs.items():
        assert len(cups_jobs(lab, session.queue, names[job_id])) == 1, job_id
        (document,) = received[names[job_id].lower()]
        assert document.read_bytes() == pdf.read_bytes(), job_id


def assert_batch_dispatched(session, submission_id: str, letters: int) -> None:
    """Every letter DISPATCHED, read by the inserter once and inserted once, and listed as such in the
    receipts."""
    states = Counter(s for (s,) in rows(session, select(t.letters.c.state)))
    assert states == {"DISPATCHED": letters}
    letter_events = Counter(event for _, event in events(session, "letter"))
    assert letter_events["spool"] == letter_events["read_downstream"] == letter_events["insert"] == letters
    assert letter_events["spoil"] == 0
    receipts = read_csv(session.settings.receipts_dir / f"{submission_id}.csv")
    assert [r["status"] for r in receipts] == ["DISPATCHED"] * letters
    assert all(r["tracking_id"] for r in receipts) and len({r["tracking_id"] for r in receipts}) == letters


def assert_inserter_read_every_sheet(session) -> None:
    """The inserter's own results: every piece of every run inserted, with each of its sheets read."""
    sheets = dict(rows(session, select(t.pieces.c.piece_id, t.pieces.c.sheets)))
    runs = rows(session, select(t.insert_runs.c.run_id, t.insert_runs.c.inserter))
    seen = {}
    for run_id, inserter in runs:
        for result in session.plant.inserters[inserter].result(run_id).results:
            seen[int(result.piece_id)] = (result.outcome.value, result.sheets_read)
    assert seen == {piece: ("inserted", n) for piece, n in sheets.items()}


def test_a_batch_prints_on_a_cups_queue_and_is_dispatched(cups_plant, cups_lab, small_batch):
    """12 letters through a CUPS press: all dispatched, each job one CUPS job named by its id, its PDF
    received once and unchanged, every sheet read by the inserter, the receipts complete."""
    before = set(cups_lab.eve_spool.iterdir())
    submission_id = submit(cups_plant, small_batch)
    cups_plant.wait([submission_id], timeout=BATCH_TIMEOUT_S)
    assert_batch_dispatched(cups_plant, submission_id, small_batch.letters)
    assert_each_job_sent_once(cups_plant, cups_lab, before)
    assert_inserter_read_every_sheet(cups_plant)


def test_a_stopped_queue_holds_the_batch_until_it_is_enabled(cups_plant, cups_lab, small_batch):
    """With the queue disabled, the plant spools each job once and reports the press stopped; nothing is
    printed or dispatched. Enabled again, the batch completes with every job sent exactly once."""
    before = set(cups_lab.eve_spool.iterdir())
    cups_lab.admin("cupsdisable", cups_plant.queue)
    submission_id = submit(cups_plant, small_batch)
    wait_for(lambda: all_reported_stopped(cups_plant), "every job spooled and reported stopped")
    for job_id in plant_jobs(cups_plant):
        (waiting,) = cups_jobs(cups_lab, cups_plant.queue, device_name(cups_plant, job_id))
        assert waiting["job-state"] == 3  # pending: queued in CUPS, not printed
    assert not received_since(cups_lab, before)
    assert not rows(cups_plant, select(t.letters.c.pk).where(t.letters.c.state == "DISPATCHED"))
    events = t.events.c
    stops = rows(
        cups_plant,
        select(events.entity_id, events.data).where(
            events.entity == "job", events.event == "device_state", events.to_state == "STOPPED"
        ),
    )
    assert {job for job, _ in stops} == set(plant_jobs(cups_plant))  # the ledger keeps why each job waits
    assert all("paused" in data["reasons"] for _, data in stops)

    cups_lab.admin("cupsenable", cups_plant.queue)
    cups_plant.wait([submission_id], timeout=BATCH_TIMEOUT_S)
    assert_batch_dispatched(cups_plant, submission_id, small_batch.letters)
    assert_each_job_sent_once(cups_plant, cups_lab, before)


def all_reported_stopped(session: Session) -> bool:
    """True once every job of the ledger is SPOOLED with device state STOPPED, and the workers' log warned of
    each (``printer_stopped``, with CUPS's reason and what to do)."""
    jobs = t.print_jobs.c
    found = set(rows(session, select(jobs.state, jobs.device_state)))
    warned = stopped_warnings(session.settings.state_dir)
    return found == {("SPOOLED", "STOPPED")} and warned == set(plant_jobs(session))


def stopped_warnings(state_dir: Path) -> set[str]:
    """Jobs the workers' log reported waiting on a stopped printer."""
    found = set()
    for line in (state_dir / "logs" / "worker.log").read_text().splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if record.get("event") == "printer_stopped":
            assert "paused" in record["reasons"] and "resume" in record["message"], record
            found.add(record["job"])
    return found


def test_a_spool_that_loses_the_race_for_its_job_id_follows_the_winner(
    tmp_path, cups_lab, cups_queue, job_id
):
    """Another delivery of the spool message submits the job between this one's find and submit: the stage's
    submit is refused (DuplicateJob), it follows the job that won, and CUPS prints the job once."""
    queue = cups_queue()
    job = SimpleNamespace(
        job_id=job_id(), printer="press-cups", sheets=1, pdf_path=str(write_pdf(tmp_path / "job.pdf"))
    )
    late = CupsPrinter("press-cups", cups_lab.server, queue=queue)
    real_find, blind = late.find, [2]

    def find(name: str):
        """Blind to the winner's job for two looks: the stage's own, and the one inside submit."""
        if blind[0]:
            blind[0] -= 1
            return None
        return real_find(name)

    late.find = find
    CupsPrinter("press-cups", cups_lab.server, queue=queue).submit(
        JobTicket(job.job_id, Path(job.pdf_path), 1)
    )
    with capture_logs() as logs:
        status = hand_over(late, job)
    assert blind == [0] and [e["event"] for e in logs] == ["job_already_on_printer"]
    assert status.job_id == job.job_id and len(cups_jobs(cups_lab, queue, job.job_id)) == 1


def test_two_ledgers_on_one_cups_queue_each_print_their_own_job(tmp_path, cups_lab, cups_queue):
    """Two plants (two ledgers: a second plant, a staging copy, a reset) on one CUPS queue, both with a job
    J000001: the second never finds the first's before submitting; CUPS holds one job of each, named
    ``<plant id>-J000001``, and each plant follows its own."""
    queue = cups_queue()
    config = tmp_path / "plant.toml"
    config.write_text(FLEET.format(server=cups_lab.server, queue=queue))
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})
    ids = [secrets.token_hex(4) for _ in range(2)]  # CUPS keeps every test's jobs: ids of this test only
    first, second = (make_printer_drivers(settings, plant)["press-cups"] for plant in ids)
    job = SimpleNamespace(
        job_id="J000001", printer="press-cups", sheets=1, pdf_path=str(write_pdf(tmp_path / "job.pdf"))
    )
    assert hand_over(first, job).job_id == "J000001"
    assert second.find("J000001") is None  # the first plant's J000001 is not the second's
    assert hand_over(second, job).job_id == "J000001"
    for plant, driver in zip(ids, (first, second), strict=True):
        (attrs,) = cups_jobs(cups_lab, queue, f"{plant}-J000001")
        assert driver.find("J000001").job_id == "J000001", attrs
