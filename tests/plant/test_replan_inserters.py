"""Re-planning when an inserter leaves the plan: stopped by itself for ``plan.replan_after_s`` (its machine
status, judged by the same ``observe`` as a press) or taken down by an operator, its insert runs not yet at it
move to an inserter in service that takes their sheets, one transaction and one ``move`` event per run; a run
waiting at it moves only when the inserter proves it never started it; a run it started stays; nothing moves
back."""

from __future__ import annotations

import dataclasses
import importlib
from collections import Counter

import pytest
from sqlalchemy import select, update

from inserters import SimulatedInserter
from plant.config import load_settings
from plant.config.sections import InserterConfig, PrinterConfig
from plant.fleet.devices import cutter_driver, make_inserter_drivers
from plant.fleet.runs import RunFate, envelope_sheets, run_fate
from plant.ledger import schema as t
from plant.ledger import schema_devices as td
from plant.model import RunState
from plant.operator import device_down, device_up
from plant.runtime.recovery import recover
from plant.stages.impose import impose
from plant.stages.insert import follow_insert, insert
from plant.stages.replan import device_check, watch_inserters, withdraw_run
from plant.stages.spool import follow_print, spool
from plant.testing import device_name
from printers.drivers.simulated import SimulatedPress
from tests.plant.operating import close_plant, events, jobs, open_plant, outbox, pieces, planned, rows

LIMIT = 300.0
T0 = 1_000_000.0
#: One fast press and two inserters; small jobs, so the batch makes several runs.
FLEET = dict(
    printers=(PrinterConfig("press-1", sheets_per_minute=6000.0),),
    inserters=(InserterConfig("ins-1"), InserterConfig("ins-2")),
    job_max_pieces=2,
)


@pytest.fixture
def plant(settings, small_batch):
    current = open_plant(dataclasses.replace(settings, **FLEET), small_batch, fleet=False)
    yield current
    close_plant(current)


def printed_runs(plant, count: int = 1, on: str = "ins-2") -> list[str]:
    """Plan the batch, print its first ``count`` jobs and return their insert runs (CREATED), put on
    ``on``."""
    planned(plant)
    chosen = [j.job_id for j in jobs(plant)[:count]]
    for job_id in chosen:
        impose(job_id)
        spool(job_id)
    for printer in plant.settings.printers:
        SimulatedPress(printer.name, plant.settings.printer_folder(printer), 6000, time_scale=0).step()
    for job_id in chosen:
        follow_print(job_id)
    runs = [run(plant, job_id=job_id).run_id for job_id in chosen]
    with plant.ledger.tx() as conn:
        conn.execute(update(t.insert_runs).where(t.insert_runs.c.run_id.in_(runs)).values(inserter=on))
    return runs


def run(plant, run_id: str | None = None, job_id: str | None = None):
    """An insert run's row."""
    where = t.insert_runs.c.run_id == run_id if run_id else t.insert_runs.c.job_id == job_id
    (found,) = rows(plant, select(t.insert_runs).where(where))
    return found


def run_events(plant, run_id: str) -> list:
    return rows(
        plant,
        select(t.events.c.event, t.events.c.from_state, t.events.c.to_state, t.events.c.data)
        .where(t.events.c.entity == "run", t.events.c.entity_id == run_id)
        .order_by(t.events.c.id),
    )


def members(plant, run_id: str) -> list:
    return pieces(plant, t.pieces.c.job_id == run(plant, run_id).job_id)


def device(plant, name: str) -> SimulatedInserter:
    """The simulated inserter ``name`` (driver and device: the test steps it)."""
    return plant.inserters[name]


def inserted_once(plant, run_id: str, inserter: str) -> None:
    """Envelope the run on ``inserter`` and reconcile it: every piece INSERTED, with one insert event each."""
    device(plant, inserter).step()
    follow_insert(run_id)
    assert run(plant, run_id).state == "RECONCILED"
    assert {p.state for p in members(plant, run_id)} == {"INSERTED"}
    assert all(events(plant, p.pk).count("insert") == 1 for p in members(plant, run_id))


# -- the decision --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "waiting", "withdrawable", "fate"),
    [
        (RunState.CREATED, False, False, RunFate.MOVE),  # not at the inserter (its cut may be under way)
        (RunState.SUBMITTING, False, True, RunFate.STAY),  # on its way to the inserter
        (RunState.SUBMITTED, True, True, RunFate.WITHDRAW),  # waiting there, and the inserter can prove it
        (RunState.SUBMITTED, True, False, RunFate.STAY),  # waiting, but no proof possible
        (RunState.SUBMITTED, False, True, RunFate.STAY),  # started: paper is in the machine
        (RunState.WITHDRAWING, True, True, RunFate.STAY),  # being withdrawn already
        (RunState.RECONCILED, False, True, RunFate.STAY),
    ],
)
def test_what_becomes_of_a_run_whose_inserter_left_the_plan(state, waiting, withdrawable, fate):
    assert run_fate(state, waiting, withdrawable) is fate


# -- stopped by itself ---------------------------------------------------------------------------------------
def test_an_inserter_stopped_longer_than_replan_after_s_hands_its_created_runs_to_the_other(plant):
    """ins-2 jams: before replan_after_s nothing moves; at it, ins-2 leaves the plan and its CREATED runs go
    to ins-1, each with one move event and an insert message; their pieces stay SPOOLED; ins-1 envelopes them
    once."""
    runs = printed_runs(plant, 2)
    device(plant, "ins-2").fault(("envelope-jam",))
    device(plant, "ins-2").step()
    assert watch_inserters(plant, T0) == []
    assert watch_inserters(plant, T0 + LIMIT - 1) == []
    assert {run(plant, r).inserter for r in runs} == {"ins-2"}
    assert watch_inserters(plant, T0 + LIMIT) == ["ins-2"]
    (row,) = rows(plant, select(td.device_service))
    assert (row.name, row.kind, row.stopped_since, row.stopped_down) == ("ins-2", "inserter", T0, 1)
    for run_id in runs:
        assert (run(plant, run_id).inserter, run(plant, run_id).state) == ("ins-1", "CREATED")
        (moved,) = run_events(plant, run_id)
        assert (moved.event, moved.data["from"], moved.data["to"]) == ("move", "ins-2", "ins-1")
        assert outbox(plant, "insert")[(run_id,)] == 2  # the print stage's, and the move's
        assert {p.state for p in members(plant, run_id)} == {"SPOOLED"}
    for run_id in runs:
        insert(run_id)
        inserted_once(plant, run_id, "ins-1")
    assert not list((device(plant, "ins-2").folder / "runs").iterdir())


def test_the_insert_stage_holds_a_run_back_while_its_inserter_reports_itself_stopped(plant):
    """A run for ins-2, stopped but still in the plan, is not handed over: it stays CREATED (so it can still
    move), nothing reaches ins-2, and the stage looks again later; cleared, ins-2 gets the run."""
    (run_id,) = printed_runs(plant)
    device(plant, "ins-2").fault(("cover-open",))
    device(plant, "ins-2").step()
    plant.sent.clear()
    insert(run_id)
    assert run(plant, run_id).state == "CREATED"
    assert device(plant, "ins-2").find(run_id) is None
    assert plant.sent == [("insert", (run_id,))]
    device(plant, "ins-2").clear()
    device(plant, "ins-2").step()
    insert(run_id)
    assert (run(plant, run_id).state, run(plant, run_id).inserter) == ("SUBMITTED", "ins-2")
    assert [e.event for e in run_events(plant, run_id)] == ["submit_claim", "submit"]


def test_nothing_moves_back_when_the_inserter_runs_again(plant):
    """ins-2 out, its run moved to ins-1; ins-2 cleared and seen running: it is back in the plan (a device
    "up" event), and the run stays on ins-1."""
    (run_id,) = printed_runs(plant)
    device(plant, "ins-2").fault()
    device(plant, "ins-2").step()
    watch_inserters(plant, T0)
    watch_inserters(plant, T0 + LIMIT)
    assert run(plant, run_id).inserter == "ins-1"
    device(plant, "ins-2").clear()
    device(plant, "ins-2").step()
    assert watch_inserters(plant, T0 + LIMIT + 60) == []
    device_events = rows(plant, select(t.events.c.event).where(t.events.c.entity == "device"))
    assert [e.event for e in device_events] == ["down", "up"]
    insert(run_id)
    assert (run(plant, run_id).inserter, run(plant, run_id).state) == ("ins-1", "SUBMITTED")
    assert [e.event for e in run_events(plant, run_id)] == ["move", "submit_claim", "submit"]


# -- taken down by the operator ------------------------------------------------------------------------------
def test_device_down_moves_the_runs_not_yet_at_the_inserter(plant):
    """`plant device down ins-2` queues a device check, which moves ins-2's CREATED runs to ins-1."""
    runs = printed_runs(plant, 2)
    outcome = device_down(plant.ledger, plant.settings, "ins-2", "sealer broken")
    assert outcome.done and "moves its runs not yet at it to another inserter" in outcome.message
    assert outbox(plant, "device_check")[("ins-2",)] == 1
    device_check("ins-2")
    assert {run(plant, r).inserter for r in runs} == {"ins-1"}
    assert all([e.event for e in run_events(plant, r)] == ["move"] for r in runs)


def test_a_run_waiting_at_an_inserter_out_of_the_plan_is_withdrawn_and_moved(plant):
    """A run handed to ins-2 that ins-2 never started is withdrawn (claim, proof, CREATED again) and moved to
    ins-1 in the same transaction; ins-2 never envelopes it; ins-1 envelopes each piece once."""
    (run_id,) = printed_runs(plant)
    insert(run_id)
    assert device(plant, "ins-2").find(run_id).waiting
    device_down(plant.ledger, plant.settings, "ins-2")
    device_check("ins-2")
    assert (run(plant, run_id).state, run(plant, run_id).inserter) == ("CREATED", "ins-1")
    assert [(e.event, e.from_state, e.to_state) for e in run_events(plant, run_id)][2:] == [
        ("withdraw_claim", "SUBMITTED", "WITHDRAWING"),
        ("withdraw", "WITHDRAWING", "CREATED"),
        ("move", "CREATED", "CREATED"),
    ]
    assert (device(plant, "ins-2").folder / "withdrawn" / f"{device_name(plant, run_id)}.json").exists()
    assert device(plant, "ins-2").step() == 0
    follow_insert(run_id)  # a follower of the run on ins-2 finds it no longer its business
    assert run(plant, run_id).state == "CREATED"
    insert(run_id)
    inserted_once(plant, run_id, "ins-1")
    assert device(plant, "ins-2").find(run_id) is None


def test_a_run_the_inserter_started_stays_on_it(plant):
    """A run ins-2 has taken into its machine stays SUBMITTED on ins-2 out of the plan: not even claimed."""
    (run_id,) = printed_runs(plant)
    insert(run_id)
    slow = SimulatedInserter(
        "ins-2", device(plant, "ins-2").folder, envelopes_per_hour=3600, clock=lambda: 0.0
    )
    slow.step()  # takes the run, no envelope done yet
    device_down(plant.ledger, plant.settings, "ins-2")
    device_check("ins-2")
    assert withdraw_run(run_id) is False
    assert (run(plant, run_id).state, run(plant, run_id).inserter) == ("SUBMITTED", "ins-2")
    assert [e.event for e in run_events(plant, run_id)] == ["submit_claim", "submit"]


def test_a_withdrawal_the_inserter_refuses_puts_the_run_back_to_be_followed(plant):
    """A run claimed for withdrawal that the inserter started meanwhile goes back to SUBMITTED and is
    followed."""
    (run_id,) = printed_runs(plant)
    insert(run_id)
    SimulatedInserter("ins-2", device(plant, "ins-2").folder, clock=lambda: 0.0).step()
    with plant.ledger.tx() as conn:  # claimed by a withdrawal that lost the race to the machine
        conn.execute(
            update(t.insert_runs).where(t.insert_runs.c.run_id == run_id).values(state="WITHDRAWING")
        )
    assert withdraw_run(run_id) is False
    assert (run(plant, run_id).state, run_events(plant, run_id)[-1].event) == (
        "SUBMITTED",
        "withdraw_refused",
    )
    assert outbox(plant, "follow_insert")[(run_id,)] == 2


def test_a_withdrawal_interrupted_after_its_claim_is_finished_by_its_redelivery(plant):
    """A WITHDRAWING run (the plant died after claiming it) is withdrawn by the next message, and moved."""
    (run_id,) = printed_runs(plant)
    insert(run_id)
    device_down(plant.ledger, plant.settings, "ins-2")
    with plant.ledger.tx() as conn:
        conn.execute(
            update(t.insert_runs).where(t.insert_runs.c.run_id == run_id).values(state="WITHDRAWING")
        )
    assert withdraw_run(run_id)
    assert (run(plant, run_id).state, run(plant, run_id).inserter) == ("CREATED", "ins-1")
    assert withdraw_run(run_id) is False  # done: nothing more to do


def test_a_run_no_inserter_in_service_can_take_waits_on_its_own(plant):
    """ins-2 down, and ins-1 takes fewer sheets than the run's thickest piece: the run stays CREATED on ins-2
    (no move, no letter failed), the insert stage waits; ins-2 back, the run goes to it."""
    planned(plant)
    thick = next(
        j
        for j in jobs(plant)
        if max(p.sheets for p in rows(plant, select(t.pieces.c.sheets).where(t.pieces.c.job_id == j.job_id)))
        > 1
    )
    plant.settings = dataclasses.replace(
        plant.settings, inserters=(InserterConfig("ins-1", max_sheets=1), InserterConfig("ins-2"))
    )
    impose(thick.job_id)
    spool(thick.job_id)
    SimulatedPress(
        "press-1", plant.settings.printer_folder(plant.settings.printers[0]), 6000, time_scale=0
    ).step()
    follow_print(thick.job_id)
    run_id = run(plant, job_id=thick.job_id).run_id
    with plant.ledger.tx() as conn:
        conn.execute(update(t.insert_runs).where(t.insert_runs.c.run_id == run_id).values(inserter="ins-2"))
        assert envelope_sheets(conn, thick) > 1
    device_down(plant.ledger, plant.settings, "ins-2")
    device_check("ins-2")
    plant.sent.clear()
    insert(run_id)
    assert (run(plant, run_id).state, run(plant, run_id).inserter) == ("CREATED", "ins-2")
    assert run_events(plant, run_id) == [] and plant.sent == [("insert", (run_id,))]
    assert {p.state for p in members(plant, run_id)} == {"SPOOLED"}
    device_up(plant.ledger, plant.settings, "ins-2")
    insert(run_id)
    assert (run(plant, run_id).state, run(plant, run_id).inserter) == ("SUBMITTED", "ins-2")


def test_a_printed_job_goes_to_an_inserter_that_takes_its_sheets(plant):
    """Its planned inserter out of the plan, a printed job's run goes to an inserter in service whose
    envelopes take its thickest piece — not to a faster, idle one that cannot."""
    planned(plant)
    job = next(
        j
        for j in jobs(plant)
        if max(p.sheets for p in rows(plant, select(t.pieces.c.sheets).where(t.pieces.c.job_id == j.job_id)))
        > 1
    )
    plant.settings = dataclasses.replace(
        plant.settings,
        inserters=(
            InserterConfig("ins-1"),
            InserterConfig("ins-2"),
            InserterConfig("ins-thin", 20000.0, max_sheets=1),
        ),
    )
    plant.inserters = make_inserter_drivers(plant.settings, plant.plant_id)
    device_down(plant.ledger, plant.settings, job.inserter)
    impose(job.job_id)
    spool(job.job_id)
    SimulatedPress(
        "press-1", plant.settings.printer_folder(plant.settings.printers[0]), 6000, time_scale=0
    ).step()
    follow_print(job.job_id)
    assert run(plant, job_id=job.job_id).inserter == ({"ins-1", "ins-2"} - {job.inserter}).pop()


# -- races and restarts --------------------------------------------------------------------------------------
def test_insert_never_hands_over_a_run_moved_after_it_read_the_run(plant, monkeypatch):
    """The insert stage read the run on ins-2, then a move committed before it claimed the run: its claim
    fails, so ins-2 never gets the run; the run is CREATED on ins-1."""
    insert_stage = importlib.import_module("plant.stages.insert")
    (run_id,) = printed_runs(plant)
    feed = insert_stage.feed

    def feed_then_move(*args):
        fed = feed(*args)
        device_down(
            plant.ledger, plant.settings, "ins-2"
        )  # another process: the operator, then its device check
        device_check("ins-2")
        return fed

    monkeypatch.setattr(insert_stage, "feed", feed_then_move)
    insert(run_id)
    assert (run(plant, run_id).state, run(plant, run_id).inserter) == ("CREATED", "ins-1")
    assert device(plant, "ins-2").find(run_id) is None and device(plant, "ins-1").find(run_id) is None


def test_recovery_resumes_claimed_runs_and_withdrawals(plant):
    """After a crash a run left SUBMITTING is handed over (once), one left WITHDRAWING is asked about
    again."""
    first, second = printed_runs(plant, 2, on="ins-1")
    with plant.ledger.tx() as conn:
        conn.execute(update(t.insert_runs).where(t.insert_runs.c.run_id == first).values(state="SUBMITTING"))
        conn.execute(
            update(t.insert_runs).where(t.insert_runs.c.run_id == second).values(state="WITHDRAWING")
        )
    recover(plant.ledger)
    assert outbox(plant, "insert")[(first,)] == 2 and outbox(plant, "withdraw_run")[(second,)] == 1
    insert(first)
    assert run(plant, first).state == "SUBMITTED" and device(plant, "ins-1").find(first) is not None
    assert Counter(e.event for e in run_events(plant, first)) == Counter({"submit": 1})


def test_a_hand_over_that_loses_the_race_to_another_delivery_follows_the_run(plant, monkeypatch):
    """Two deliveries of a claimed run: the second's find saw nothing, then the first submitted; its submit is
    refused as a duplicate, and it records the hand-over instead of failing (the run reached the inserter
    once)."""
    (run_id,) = printed_runs(plant, on="ins-1")
    with plant.ledger.tx() as conn:
        conn.execute(update(t.insert_runs).where(t.insert_runs.c.run_id == run_id).values(state="SUBMITTING"))
    insert(run_id)
    with plant.ledger.tx() as conn:  # as if the other delivery had not yet recorded its hand-over
        conn.execute(update(t.insert_runs).where(t.insert_runs.c.run_id == run_id).values(state="SUBMITTING"))
    monkeypatch.setattr(device(plant, "ins-1"), "find", lambda run_id: None)
    insert(run_id)
    assert run(plant, run_id).state == "SUBMITTED"


# -- N-up work -----------------------------------------------------------------------------------------------
def test_a_run_moved_after_its_cut_began_is_fed_the_leaves_of_that_cut(tmp_path, small_batch):
    """2-up work: ins-2's cutter has the run's cut when ins-2 leaves the plan. The run moves to ins-1, which
    is fed the leaves ins-2's cutter cut — the printed sheets are not cut a second time — and envelopes each
    piece once."""
    config = tmp_path / "plant.toml"
    config.write_text(
        'job_max_pieces = 2\n[[printers]]\nname = "press-1"\nsheets_per_minute = 6000\n'
        'layout = "2up-cutstack"\n[[inserters]]\nname = "ins-1"\n[[inserters]]\nname = "ins-2"\n'
    )
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})
    plant = open_plant(settings, small_batch, fleet=False)
    try:
        (run_id,) = printed_runs(plant)
        insert(run_id)  # the cut is handed to ins-2's cutter; the run waits CREATED while it cuts
        cutter_2, cutter_1 = (
            cutter_driver(plant.settings, name, plant.plant_id) for name in ("ins-2", "ins-1")
        )
        assert run(plant, run_id).state == "CREATED" and cutter_2.find(run_id) is not None
        device_down(plant.ledger, plant.settings, "ins-2")
        device_check("ins-2")
        assert run(plant, run_id).inserter == "ins-1"
        insert(run_id)  # ins-2's cutter is still cutting: ins-1 waits for its leaves
        assert run(plant, run_id).state == "CREATED"
        cutter_2.step()
        insert(run_id)
        assert (run(plant, run_id).state, run(plant, run_id).inserter) == ("SUBMITTED", "ins-1")
        assert run_events(plant, run_id)[-1].data["cutter"] == "ins-2-cutter"
        assert cutter_1.find(run_id) is None
        inserted_once(plant, run_id, "ins-1")
    finally:
        close_plant(plant)
