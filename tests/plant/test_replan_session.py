"""Re-planning in a running plant (real Redis, worker process, simulated devices): a press that stops for good
hands its work not yet printed to the other press, and an operator's hold keeps a piece off paper while the
rest of its job is printed — every letter dispatched exactly once, no job id spooled twice."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from plant.ledger import schema as t
from plant.ledger import schema_devices as td
from plant.operator import Action, act
from plant.testing import Clock, configure, device_name, open_session, submit
from tests.plant.helpers import PHASE_TIMEOUT_S, letter_pieces, read_csv, read_ledger, wait_for
from tests.plant.operating import (
    INS_1,
    PRESS_1,
    SESSION,
    close_plant,
    events,
    job_members,
    open_plant,
    planned,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_leftover_redis")]


def settings_for(tmp_path, jams: tuple[int, ...] = ()):
    """press-2 jams on the sheets ``jams`` (1: the first it ever feeds) and nobody clears it; sweeps every
    second; small jobs. (config path, settings)."""
    press_2 = {"name": "press-2", "sheets_per_minute": 900, **({"jams": list(jams)} if jams else {})}
    return configure(tmp_path, **SESSION, printers=[PRESS_1, press_2], inserters=[INS_1])


def submitted(settings, job_id: str) -> list[str]:
    """The presses whose hot folder ever received ``job_id`` (under its device name)."""
    name = device_name(settings, job_id)
    return [
        p.name
        for p in settings.printers
        if (settings.printer_folder(p) / "submitted" / f"{name}.json").exists()
    ]


def manifest(settings) -> Counter:
    return Counter(r["tracking_id"] for path in settings.manifests_dir.glob("*.csv") for r in read_csv(path))


def test_a_press_stopped_for_good_hands_its_unprinted_work_to_the_other_press(tmp_path, small_batch):
    """press-2 jams on its first sheet for good. Seen stopped for replan_after_s (the session's clock moved
    on), it leaves the plan: the jobs waiting at it are withdrawn and those not yet sent released, all planned
    again on press-1 under new ids; the jammed job, cancelled at the press by an operator, is reprinted there.
    Every print letter is dispatched exactly once, each job id reached one press at most once, and only the
    jammed job's pieces were printed twice."""
    config, settings = settings_for(tmp_path, jams=(1,))
    clock = Clock()
    with open_session(settings, config, clock) as session:
        submission = submit(session, small_batch.submission)
        jobs, service = t.print_jobs.c, td.device_service.c

        def press_2_stopped_and_seen() -> bool:
            on_2 = read_ledger(
                session, select(jobs.state, jobs.device_state).where(jobs.printer == "press-2")
            )
            seen = read_ledger(session, select(service.stopped_since).where(service.name == "press-2"))
            return (
                bool(on_2)
                and {s for s, _ in on_2} == {"SPOOLED"}
                and ("SPOOLED", "STOPPED") in on_2
                and bool(seen)
                and seen[0].stopped_since is not None
            )

        wait_for(press_2_stopped_and_seen, "press-2 jammed with its jobs spooled, seen stopped by a sweep")
        before = read_ledger(
            session, select(jobs.job_id).where(jobs.printer == "press-2").order_by(jobs.number)
        )
        assert len(before) >= 2, "press-2 must have a job waiting behind the jammed one"
        assert (
            read_ledger(session, select(service.stopped_down).where(service.name == "press-2"))[
                0
            ].stopped_down
            == 0
        )
        clock.advance(settings.plan.replan_after_s + 60)  # five minutes later, by the plant's clock

        def press_2_out_and_cleared() -> bool:
            out = read_ledger(session, select(service.stopped_down).where(service.name == "press-2"))[
                0
            ].stopped_down
            left = read_ledger(
                session, select(jobs.job_id).where(jobs.printer == "press-2", jobs.state == "SPOOLED")
            )
            return out == 1 and len(left) == 1

        wait_for(press_2_out_and_cleared, "press-2 out of the plan with only its jammed job left")
        (jammed,) = read_ledger(
            session, select(jobs.job_id).where(jobs.printer == "press-2", jobs.state == "SPOOLED")
        )
        session.plant.printers["press-2"].cancel(jammed.job_id)  # the operator cancels it at the press
        session.wait([submission], timeout=PHASE_TIMEOUT_S)

        letters = letter_pieces(session)
        all_jobs = read_ledger(session, select(jobs.job_id, jobs.printer, jobs.state))
        jammed_pieces = set(job_members(session.plant, jammed.job_id))
        job_events = Counter(
            r.event for r in read_ledger(session, select(t.events.c.event).where(t.events.c.entity == "job"))
        )
    assert {r.state for r in letters} == {"DISPATCHED"}
    assert manifest(settings) == Counter({r.tracking_id: 1 for r in letters})
    assert {r.piece_id for r in letters if r.prints == 2} == jammed_pieces
    assert all(r.prints == 1 for r in letters if r.piece_id not in jammed_pieces)
    assert all(len(submitted(settings, j.job_id)) <= 1 for j in all_jobs)
    states = {j.job_id: j.state for j in all_jobs}
    assert states[jammed.job_id] == "FAILED"
    assert {states[j.job_id] for j in before} == {"REPLANNED", "FAILED"}
    assert job_events["withdraw"] >= 1
    assert {j.printer for j in all_jobs if j.state == "DONE"} == {"press-1"}
    press_2_output = settings.printer_folder(settings.printers[1]) / "output"
    assert not [
        j
        for j in before
        if j.job_id != jammed.job_id and (press_2_output / f"{device_name(settings, j.job_id)}.pdf").exists()
    ]


def test_a_piece_held_before_spooling_is_not_printed_until_released(tmp_path, small_batch):
    """A piece held while its job is planned is taken out of the job; the running plant prints and dispatches
    the rest of that job (in a new job), not the held piece. Released, it is printed and dispatched once."""
    config, settings = settings_for(tmp_path)
    early = open_plant(settings, small_batch, fleet=False)  # the plan is made; nothing runs yet
    try:
        planned(early)
        with early.ledger.read() as conn:
            job_id = next(
                j
                for j in conn.execute(select(t.print_jobs.c.job_id)).scalars()
                if len(job_members(early, j)) >= 2
            )
        members = job_members(early, job_id)
        with early.ledger.read() as conn:
            target = conn.execute(
                select(t.pieces.c.tracking_id, t.pieces.c.letter_pk).where(t.pieces.c.piece_id == members[0])
            ).one()
        (held,) = act(early.ledger, Action.HOLD, [target.tracking_id])
        assert held.done and job_id in held.message
        submission = early.submission_id
    finally:
        close_plant(early)
    letters = t.letters.c
    with open_session(settings, config) as session:
        session.resume()

        def all_but_the_held_one_final() -> bool:
            found = Counter(
                s
                for (s,) in read_ledger(
                    session, select(letters.state).where(letters.submission_id == submission)
                )
            )
            return (
                found["HELD"] == 1 and found["HELD"] + found["DISPATCHED"] + found["DELIVERED_DIGITAL"] == 12
            )

        wait_for(all_but_the_held_one_final, "every letter but the held one dispatched")
        others = read_ledger(
            session,
            select(letters.state)
            .select_from(t.letters.join(t.pieces, t.pieces.c.letter_pk == letters.pk))
            .where(t.pieces.c.piece_id.in_(members[1:])),
        )
        assert {r.state for r in others} == {"DISPATCHED"}
        assert target.tracking_id not in manifest(settings)
        assert not submitted(settings, job_id)
        (released,) = act(session.plant.ledger, Action.RELEASE, [target.tracking_id])
        assert released.done
        session.relay.wake.set()
        session.wait([submission], timeout=PHASE_TIMEOUT_S)
        history = events(session.plant, target.letter_pk)
    assert manifest(settings)[target.tracking_id] == 1 and max(manifest(settings).values()) == 1
    assert history.count("spool") == 1 and history.count("dispatch") == 1
    assert history.index("release") < history.index("spool")
