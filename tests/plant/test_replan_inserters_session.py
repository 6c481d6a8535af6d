"""An inserter that stops for good in a running plant (real Redis, worker process, simulated devices): after
``plan.replan_after_s`` by the plant's clock its runs not yet handed to it go to the other inserter — every
letter dispatched once, each piece inserted once — and when it runs again nothing moves back."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from inserters import InserterState, SimulatedInserter
from plant.ledger import schema as t
from plant.ledger import schema_devices as td
from plant.testing import Clock, configure, open_session, submit
from tests.plant.helpers import PHASE_TIMEOUT_S, letter_pieces, read_csv, read_ledger, wait_for
from tests.plant.operating import INS_1, PRESS_1, SESSION

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_leftover_redis")]

#: One press, two inserters (:data:`SESSION`: sweeps every second; small jobs). ins-2 takes 4 sheets (every
#: letter of the batch), ins-1 the default 6: the planner keeps the wider inserter for thick pieces, so it
#: gives
#: ins-2 the work.
INS_2 = {"name": "ins-2", "envelopes_per_hour": 36000, "max_sheets": 4}


def test_an_inserter_stopped_for_good_hands_its_unsubmitted_runs_to_the_other(tmp_path, small_batch):
    """ins-2 jams before its first run and nobody clears it. Its runs wait CREATED (never handed to a stopped
    machine); seen stopped for replan_after_s (the session's clock moved on), ins-2 leaves the plan and they
    go to ins-1. Every print letter is dispatched exactly once and enveloped exactly once, all by ins-1; ins-2
    never received a run. Cleared and seen running, ins-2 rejoins the plan; the moved runs stay where they
    are."""
    config, settings = configure(tmp_path, **SESSION, printers=[PRESS_1], inserters=[INS_1, INS_2])
    ins_2 = SimulatedInserter("ins-2", settings.inserter_folder(settings.inserters[1]))
    clock = Clock()
    with open_session(settings, config, clock) as session:
        ins_2.fault(("envelope-jam",))
        wait_for(lambda: ins_2.machine_status().state is InserterState.STOPPED, "ins-2 to stop")
        submission = submit(session, small_batch.submission)
        runs, jobs, service = t.insert_runs.c, t.print_jobs.c, td.device_service.c

        def work_waiting_at_stopped_ins_2() -> bool:
            unprinted = read_ledger(
                session, select(jobs.job_id).where(jobs.state.notin_(["PRINTED", "DONE", "REPLANNED"]))
            )
            on_2 = read_ledger(session, select(runs.state).where(runs.inserter == "ins-2"))
            seen = read_ledger(session, select(service.stopped_since).where(service.name == "ins-2"))
            return (
                not unprinted
                and bool(on_2)
                and {s for (s,) in on_2} == {"CREATED"}
                and bool(seen)
                and seen[0].stopped_since is not None
            )

        wait_for(work_waiting_at_stopped_ins_2, "every job printed, ins-2's runs waiting, ins-2 seen stopped")
        waiting = [r for (r,) in read_ledger(session, select(runs.run_id).where(runs.inserter == "ins-2"))]
        assert (
            read_ledger(session, select(service.stopped_down).where(service.name == "ins-2"))[0].stopped_down
            == 0
        )
        clock.advance(settings.plan.replan_after_s + 60)  # five minutes later, by the plant's clock
        session.wait([submission], timeout=PHASE_TIMEOUT_S)

        letters = letter_pieces(session)
        all_runs = read_ledger(session, select(runs.run_id, runs.inserter, runs.state))
        letter_events = Counter(
            (r.entity_id, r.event)
            for r in read_ledger(
                session, select(t.events.c.entity_id, t.events.c.event).where(t.events.c.entity == "letter")
            )
        )
        moves = read_ledger(
            session,
            select(t.events.c.entity_id, t.events.c.data).where(
                t.events.c.entity == "run", t.events.c.event == "move"
            ),
        )

        ins_2.clear()
        wait_for(
            lambda: (
                read_ledger(session, select(service.stopped_down).where(service.name == "ins-2"))[
                    0
                ].stopped_down
                == 0
            ),
            "ins-2 seen running and back in the plan",
        )
        after = read_ledger(session, select(runs.run_id, runs.inserter, runs.state))
        device_events = [
            e
            for (e,) in read_ledger(
                session,
                select(t.events.c.event)
                .where(t.events.c.entity == "device", t.events.c.entity_id == "ins-2")
                .order_by(t.events.c.id),
            )
        ]

    assert {r.state for r in letters} == {"DISPATCHED"}
    manifest = Counter(
        r["tracking_id"] for path in settings.manifests_dir.glob("*.csv") for r in read_csv(path)
    )
    assert manifest == Counter({r.tracking_id: 1 for r in letters})
    assert all(letter_events[(str(r.pk), "insert")] == 1 and r.prints == 1 for r in letters)
    results = Counter(
        row["piece_id"]
        for path in (settings.inserter_folder(settings.inserters[0]) / "results").glob("*.csv")
        for row in read_csv(path)
        if row["outcome"] == "inserted"
    )
    assert results == Counter({str(r.piece_id): 1 for r in letters})
    assert {(r.inserter, r.state) for r in all_runs} == {("ins-1", "RECONCILED")}
    assert sorted(m.entity_id for m in moves) == sorted(waiting)
    assert {(m.data["from"], m.data["to"]) for m in moves} == {("ins-2", "ins-1")}
    folder_2 = settings.inserter_folder(settings.inserters[1])
    assert not [p for sub in ("runs", "taken", "withdrawn", "results") for p in (folder_2 / sub).iterdir()]
    assert after == all_runs
    assert device_events == ["down", "up"]
