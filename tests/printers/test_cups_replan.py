"""Re-planning with a CUPS press (real Redis, worker, a simulated press-1 and inserter, press-2 a queue of the
lab's cupsd): the stopped CUPS press's jobs that CUPS never started are withdrawn and printed on press-1; a
job CUPS had started stays on the queue until an operator cancels it there — every letter dispatched exactly
once."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import select

from plant.ledger import schema as t
from plant.ledger import schema_devices as td
from plant.model import device_name
from plant.runtime.session import Session
from plant.testing import configure, open_session, plant_id, submit
from printers import CupsPrinter
from tests.plant.helpers import PHASE_TIMEOUT_S, read_csv, read_ledger, wait_for
from tests.plant.operating import INS_1, PRESS_1, SESSION, job_members
from tests.printers.cupsd import free_port

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_leftover_redis")]


@pytest.fixture
def dead_device_queue(cups_lab):
    """A queue whose device never answers: the job CUPS starts stays half-way into it (processing)."""
    # A name of its own: CUPS keeps nameless stubs of removed queues' jobs.
    queue = f"replan-dead-{uuid.uuid4().hex[:8]}"
    cups_lab.admin("lpadmin", "-p", queue, "-v", f"ipp://localhost:{free_port()}/ipp/print?snmp=false", "-E")
    yield queue
    cups_lab.remove_queue(queue)


def session_on(tmp_path, cups_lab, queue: str, offset: list[float]) -> Session:
    """A plant session with press-1 simulated and press-2 on CUPS queue ``queue`` (faster, so the planner
    gives it work), one inserter, small jobs and a sweep a second; its clock runs ``offset[0]`` seconds
    ahead."""
    press_2 = {"name": "press-2", "driver": "cups", "server": cups_lab.server, "queue": queue}
    printers = [PRESS_1, {**press_2, "sheets_per_minute": 900}]
    config, settings = configure(tmp_path, **SESSION, printers=printers, inserters=[INS_1])
    return open_session(settings, config, clock=lambda: time.time() + offset[0])


def manifest(settings) -> Counter:
    return Counter(r["tracking_id"] for path in settings.manifests_dir.glob("*.csv") for r in read_csv(path))


def on_press_2(session: Session) -> list:
    """press-2's jobs (id, state, device state) in plan order."""
    jobs = t.print_jobs.c
    return read_ledger(
        session,
        select(jobs.job_id, jobs.state, jobs.device_state)
        .where(jobs.printer == "press-2")
        .order_by(jobs.number),
    )


def cups_job(lab, queue: str, plant: str, job_id: str) -> dict:
    """The one CUPS job of plant ``plant``'s job ``job_id`` on ``queue`` (named ``<plant id>-<job id>``), with
    its state and processing stamp."""
    name = device_name(plant, job_id)
    jobs = lab._connect().getJobs(
        which_jobs="all",
        requested_attributes=["job-id", "job-name", "job-state", "job-printer-uri", "time-at-processing"],
    )
    (found,) = [
        a
        for a in jobs.values()
        if a.get("job-name") == name and str(a["job-printer-uri"]).endswith(f"/printers/{queue}")
    ]
    return found


def stopped_and_seen(session: Session) -> bool:
    """press-2 stopped with every job of it SPOOLED, and a sweep has recorded since when."""
    service = td.device_service.c
    jobs = on_press_2(session)
    seen = read_ledger(session, select(service.stopped_since).where(service.name == "press-2"))
    return (
        bool(jobs)
        and {j.state for j in jobs} == {"SPOOLED"}
        and ("SPOOLED", "STOPPED") in {(j.state, j.device_state) for j in jobs}
        and bool(seen)
        and seen[0].stopped_since is not None
    )


def out_of_the_plan(session: Session, left: int) -> bool:
    """press-2 out of the plan with ``left`` jobs still SPOOLED on it."""
    service = td.device_service.c
    out = read_ledger(session, select(service.stopped_down).where(service.name == "press-2"))[0].stopped_down
    return out == 1 and sum(j.state == "SPOOLED" for j in on_press_2(session)) == left


def outcome(session: Session):
    """(letters with tracking id, print count and piece id; job id → state and printer; job events by
    kind)."""
    letters = read_ledger(
        session,
        select(t.letters.c.state, t.pieces.c.tracking_id, t.pieces.c.prints, t.pieces.c.piece_id).select_from(
            t.letters.join(t.pieces, t.pieces.c.letter_pk == t.letters.c.pk)
        ),
    )
    jobs = {
        r.job_id: (r.state, r.printer)
        for r in read_ledger(
            session, select(t.print_jobs.c.job_id, t.print_jobs.c.state, t.print_jobs.c.printer)
        )
    }
    job_events = Counter(
        e for (e,) in read_ledger(session, select(t.events.c.event).where(t.events.c.entity == "job"))
    )
    return letters, jobs, job_events


@pytest.mark.parametrize("held", [False, True], ids=["pending", "one-held-in-cups"])
def test_a_stopped_cups_press_hands_its_waiting_jobs_to_the_other_press(
    tmp_path, cups_lab, cups_queue, small_batch, held
):
    """press-2's queue is paused before the batch arrives: its jobs wait in CUPS, pending (and, in the second
    case, one of them held there by an operator). Seen stopped for replan_after_s (the session's clock moved
    on), it leaves the plan and every job is withdrawn — canceled in CUPS before it ever started — and printed
    on press-1. Every letter is dispatched once, printed once, and the printer behind press-2 received
    nothing."""
    queue = cups_queue()
    cups_lab.admin("cupsdisable", queue)
    before_files = set(cups_lab.eve_spool.iterdir())
    offset = [0.0]
    with session_on(tmp_path, cups_lab, queue, offset) as session:
        submission = submit(session, small_batch.submission)
        wait_for(
            lambda: stopped_and_seen(session), "press-2's jobs spooled to the paused queue, seen stopped"
        )
        spooled = [j.job_id for j in on_press_2(session)]
        if held:
            CupsPrinter("press-2", cups_lab.server, queue=queue).hold(
                device_name(plant_id(session), spooled[0])
            )
        offset[0] = session.settings.plan.replan_after_s + 60
        wait_for(lambda: out_of_the_plan(session, left=0), "press-2 out of the plan, its jobs withdrawn")
        session.wait([submission], timeout=PHASE_TIMEOUT_S)
        letters, jobs, job_events = outcome(session)
        settings, plant = session.settings, plant_id(session)
    assert {r.state for r in letters} == {"DISPATCHED"}
    assert manifest(settings) == Counter({r.tracking_id: 1 for r in letters})
    assert all(r.prints == 1 for r in letters)
    assert {jobs[j][0] for j in spooled} == {"REPLANNED"} and job_events["withdraw"] == len(spooled)
    assert {printer for state, printer in jobs.values() if state == "DONE"} == {"press-1"}
    for job_id in spooled:
        found = cups_job(cups_lab, queue, plant, job_id)
        assert (found["job-state"], found["time-at-processing"]) == (7, None), job_id
    assert set(cups_lab.eve_spool.iterdir()) == before_files


def test_a_job_cups_had_started_stays_until_cancelled_at_the_queue(
    tmp_path, cups_lab, dead_device_queue, small_batch
):
    """press-2's device never answers: CUPS starts its first job (half-way into the device) and the others
    wait; then the queue is paused, which sends the started job back to pending. Out of the plan, press-2's
    unstarted jobs are withdrawn and printed on press-1; the started one stays — pending like the others, but
    CUPS stamped it processing. The operator cancels it in CUPS; its pieces are reprinted on press-1. Every
    letter is dispatched once; only the started job's pieces were printed twice."""
    queue = dead_device_queue
    offset = [0.0]
    with session_on(tmp_path, cups_lab, queue, offset) as session:
        submission = submit(session, small_batch.submission)
        plant = plant_id(session)

        def one_started_others_waiting() -> bool:
            jobs = on_press_2(session)
            if len(jobs) < 2 or {j.state for j in jobs} != {"SPOOLED"}:
                return False
            stamps = [cups_job(cups_lab, queue, plant, j.job_id)["time-at-processing"] for j in jobs]
            return sum(stamp is not None for stamp in stamps) == 1

        wait_for(
            one_started_others_waiting,
            "press-2's jobs spooled, the first started by CUPS",
            detail=lambda: [(*j, cups_job(cups_lab, queue, plant, j.job_id)) for j in on_press_2(session)],
        )
        spooled = [j.job_id for j in on_press_2(session)]
        (started,) = [
            j for j in spooled if cups_job(cups_lab, queue, plant, j)["time-at-processing"] is not None
        ]
        cups_lab.admin("cupsdisable", queue)
        assert (
            cups_job(cups_lab, queue, plant, started)["job-state"] == 3
        )  # pending again, like the unstarted ones
        wait_for(lambda: stopped_and_seen(session), "press-2 seen stopped")
        offset[0] = session.settings.plan.replan_after_s + 60
        wait_for(
            lambda: out_of_the_plan(session, left=1), "press-2 out of the plan with only the started job left"
        )
        assert [j.job_id for j in on_press_2(session) if j.state == "SPOOLED"] == [started]
        session.plant.printers["press-2"].cancel(started)  # the operator cancels it at the queue
        session.wait([submission], timeout=PHASE_TIMEOUT_S)
        letters, jobs, job_events = outcome(session)
        started_pieces = set(job_members(session.plant, started))
        settings = session.settings
    assert {r.state for r in letters} == {"DISPATCHED"}
    assert manifest(settings) == Counter({r.tracking_id: 1 for r in letters})
    assert {r.piece_id for r in letters if r.prints == 2} == started_pieces
    assert all(r.prints == 1 for r in letters if r.piece_id not in started_pieces)
    assert jobs[started][0] == "FAILED"
    assert {jobs[j][0] for j in spooled if j != started} == {"REPLANNED"}
    assert job_events["withdraw"] == len(spooled) - 1 and job_events["withdraw_refused"] >= 1
    assert {printer for state, printer in jobs.values() if state == "DONE"} == {"press-1"}
