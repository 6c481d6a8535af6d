"""Re-planning when a press leaves the plan: its jobs not yet on it are released and planned again on the
presses in service, under new job ids; jobs already handed to it stay unless the press provably never took
them; the spool stage claims a job before it reaches a press, so a released job is never sent."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math

import pytest
from sqlalchemy import select

from plant.config import load_settings
from plant.config.sections import InserterConfig
from plant.errors import ConfigError
from plant.fleet.devices import make_inserter_drivers
from plant.fleet.service import Observation, observe, set_service
from plant.ledger import schema as t
from plant.ledger import schema_devices as td
from plant.ledger.jobs import release_job
from plant.model import JobState
from plant.operator import device_down, device_up
from plant.runtime.recovery import recover
from plant.stages.impose import impose
from plant.stages.plan import plan
from plant.stages.preflight import preflight
from plant.stages.replan import device_check, watch_printers, withdraw
from plant.stages.route import route
from plant.stages.spool import follow_print, spool
from plant.testing import device_name
from printers.drivers.hotfolder import HotFolderLayout
from printers.drivers.simulated import SimulatedPress
from tests.plant.operating import events, job_members, jobs, operating, outbox, pieces, planned, rows

LIMIT = 300.0


@pytest.fixture
def plant(settings, small_batch):
    with operating(settings, small_batch) as current:
        yield current


def on(plant, printer: str) -> list:
    return jobs(plant, t.print_jobs.c.printer == printer)


def stopped_report(plant, printer: str, state: str = "stopped") -> None:
    """Write what a RIP reports about itself into the press's hot folder (the protocol's printer.json)."""
    layout = HotFolderLayout(
        plant.settings.printer_folder(next(p for p in plant.settings.printers if p.name == printer))
    )
    layout.status_dir.mkdir(parents=True, exist_ok=True)
    layout.printer_status.write_text(
        json.dumps(
            {
                "format": "plant-hotfolder-printer/1",
                "state": state,
                "reasons": ["media-jam"] if state == "stopped" else [],
            }
        )
    )


# -- the decision --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stopped", "since", "down", "at", "expected"),
    [
        (False, None, False, 1000.0, Observation(None, False)),  # running: nothing recorded
        (False, 500.0, True, 1000.0, Observation(None, False)),  # running again: back in the plan
        (True, None, False, 1000.0, Observation(1000.0, False)),  # first seen stopped: the count starts
        (True, 1000.0, False, 1000.0 + LIMIT - 1, Observation(1000.0, False)),  # not long enough yet
        (True, 1000.0, False, 1000.0 + LIMIT, Observation(1000.0, True)),  # stopped replan_after_s: out
        (True, 2000.0, False, 1000.0, Observation(1000.0, False)),  # clock set back: the count restarts
        (True, 1000.0, True, 1001.0, Observation(1000.0, True)),  # stays out while stopped
    ],
)
def test_a_press_leaves_the_plan_after_replan_after_s_stopped(stopped, since, down, at, expected):
    """The sweep's judgement of a press: out once seen stopped for ``replan_after_s``, back once running."""
    assert observe(stopped, since, down, at, LIMIT) == expected


@pytest.mark.parametrize("value", [0, 0.5, 86401, math.nan, "300"])
def test_replan_after_s_is_validated(tmp_path, value):
    """plan.replan_after_s out of 1 s … 1 day (or not a number) is refused, naming the key."""
    config = tmp_path / "plant.toml"
    config.write_text(f"[plan]\nreplan_after_s = {json.dumps(value) if isinstance(value, str) else value}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={})
    assert info.value.key == "plan.replan_after_s"


def test_replan_after_s_defaults_to_five_minutes(settings):
    assert settings.plan.replan_after_s == 300.0


# -- the release ---------------------------------------------------------------------------------------------
def test_releasing_a_job_plans_its_pieces_again_under_a_new_job_id(plant):
    """A released job is REPLANNED; its pieces go PRINT_READY with one replan event each and a plan message in
    the same transaction; planning again forms a new job (new id) and the old one is never imposed or
    spooled."""
    submission = planned(plant)
    old = jobs(plant)[0]
    members = job_members(plant, old.job_id)
    with plant.ledger.tx() as conn:
        moved = release_job(conn, old.job_id, "test")
    assert len(moved) == len(members)
    assert jobs(plant, t.print_jobs.c.job_id == old.job_id)[0].state == "REPLANNED"
    assert {p.state for p in pieces(plant, t.pieces.c.piece_id.in_(members))} == {"PRINT_READY"}
    assert all(
        events(plant, p.pk).count("replan") == 1 for p in pieces(plant, t.pieces.c.piece_id.in_(members))
    )
    assert outbox(plant, "plan")[(submission,)] >= 1
    plan(submission)
    (new,) = [
        j for j in jobs(plant) if set(job_members(plant, j.job_id)) & set(members) and j.state == "PLANNED"
    ]
    assert new.job_id != old.job_id and set(job_members(plant, new.job_id)) == set(members)
    impose(old.job_id)
    spool(old.job_id)
    assert not (plant.settings.spool_dir / f"{old.job_id}.pdf").exists()
    assert jobs(plant, t.print_jobs.c.job_id == old.job_id)[0].state == "REPLANNED"


def test_a_job_claimed_for_its_press_is_not_released(plant):
    """Once the spool stage has claimed a job (SPOOLING), a release finds nothing to take back."""
    planned(plant)
    job = jobs(plant)[0]
    impose(job.job_id)
    with plant.ledger.tx() as conn:
        conn.execute(
            t.print_jobs.update().where(t.print_jobs.c.job_id == job.job_id).values(state="SPOOLING")
        )
    with plant.ledger.tx() as conn:
        assert release_job(conn, job.job_id, "test") is None
    assert {p.state for p in pieces(plant, t.pieces.c.job_id == job.job_id)} == {"IMPOSED"}


def test_spool_never_sends_a_job_released_after_it_read_the_job(plant, monkeypatch):
    """The spool stage read the job IMPOSED, then a release committed before it acted: its claim fails, so the
    released job never reaches the press (its pieces are being planned again elsewhere)."""
    spool_stage = importlib.import_module(
        "plant.stages.spool"
    )  # the package re-exports the function as `spool`
    planned(plant)
    job = jobs(plant)[0]
    impose(job.job_id)
    read_pieces = spool_stage.job_pieces

    def read_then_release(conn, job_id):
        found = read_pieces(conn, job_id)
        with plant.ledger.tx() as other:  # another process's release, between the stage's read and its act
            assert release_job(other, job_id, "press out of the plan") is not None
        return found

    monkeypatch.setattr(spool_stage, "job_pieces", read_then_release)
    spool(job.job_id)
    assert jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].state == "REPLANNED"
    folder = plant.settings.printer_folder(next(p for p in plant.settings.printers if p.name == job.printer))
    name = device_name(plant, job.job_id)
    assert not list(folder.glob(f"{name}.*")) and not (folder / "submitted" / f"{name}.json").exists()


# -- devices out of the plan ---------------------------------------------------------------------------------
def test_device_down_moves_the_jobs_not_yet_on_the_press_to_the_other_one(plant):
    """`plant device down press-2`: its PLANNED and IMPOSED jobs are released at once and planned again on
    press-1; press-2 gets no new job; every piece is in exactly one live job."""
    submission = planned(plant)
    mine = on(plant, "press-2")
    assert len(mine) >= 2, "the batch must give press-2 work"
    impose(mine[0].job_id)
    outcome = device_down(plant.ledger, plant.settings, "press-2", "fuser fault")
    assert outcome.done and all(j.job_id in outcome.message for j in mine)
    assert {j.state for j in on(plant, "press-2")} == {"REPLANNED"}
    plan(submission)
    assert {j.state for j in on(plant, "press-2")} == {"REPLANNED"}
    live = [j.job_id for j in jobs(plant) if j.state == "PLANNED"]
    members = [p for j in live for p in job_members(plant, j)]
    assert sorted(members) == sorted(p.piece_id for p in pieces(plant)) and len(set(members)) == len(members)
    assert {j.printer for j in jobs(plant) if j.state == "PLANNED"} == {"press-1"}


def test_nothing_is_planned_or_failed_while_no_press_is_in_service(plant):
    """With every press down the pieces wait PRINT_READY (none fails); `device up` plans them."""
    submission = planned(plant)
    for name in ("press-1", "press-2"):
        device_down(plant.ledger, plant.settings, name)
    plan(submission)
    assert {p.state for p in pieces(plant)} == {"PRINT_READY"}
    assert not [j for j in jobs(plant) if j.state != "REPLANNED"]
    assert device_up(plant.ledger, plant.settings, "press-1").done
    assert outbox(plant, "plan")[(submission,)] >= 2  # the release's, and the return's
    plan(submission)
    assert {p.state for p in pieces(plant)} == {"PLANNED"}
    assert {j.printer for j in jobs(plant) if j.state == "PLANNED"} == {"press-1"}


def test_a_press_stopped_longer_than_replan_after_s_leaves_the_plan(plant):
    """The sweep sees press-2 stopped: before replan_after_s nothing moves; after it, press-2's jobs not on it
    are released; seen running again, it rejoins and waiting letters are planned again."""
    submission = planned(plant)
    mine = [j.job_id for j in on(plant, "press-2")]
    stopped_report(plant, "press-2")
    t0 = 1_000_000.0
    assert watch_printers(plant, t0) == []
    assert watch_printers(plant, t0 + LIMIT - 1) == []
    assert {j.state for j in on(plant, "press-2")} == {"PLANNED"}
    assert watch_printers(plant, t0 + LIMIT) == ["press-2"]
    assert {j.state for j in jobs(plant, t.print_jobs.c.job_id.in_(mine))} == {"REPLANNED"}
    (row,) = rows(plant, select(td.device_service))
    assert (row.stopped_since, row.stopped_down, row.operator_down) == (t0, 1, 0)
    stopped_report(plant, "press-2", "idle")
    before = outbox(plant, "plan")[(submission,)]
    assert watch_printers(plant, t0 + LIMIT + 60) == []
    assert outbox(plant, "plan")[(submission,)] == before + 1
    device_events = rows(plant, select(t.events.c.event).where(t.events.c.entity == "device"))
    assert [e.event for e in device_events] == ["down", "up"]


def test_a_job_waiting_at_a_press_out_of_the_plan_is_withdrawn(plant):
    """A job handed to press-2 that press-2 never took is withdrawn: its ticket is gone, the driver reports it
    cancelled unprinted, the job REPLANNED and its pieces PRINT_READY with their print count given back."""
    submission = planned(plant)
    job = on(plant, "press-2")[0]
    impose(job.job_id)
    spool(job.job_id)
    assert jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].state == "SPOOLED"
    assert {p.prints for p in pieces(plant, t.pieces.c.job_id == job.job_id)} == {1}
    members = job_members(plant, job.job_id)
    device_down(plant.ledger, plant.settings, "press-2")
    device_check("press-2")
    assert jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].state == "REPLANNED"
    moved = pieces(plant, t.pieces.c.piece_id.in_(members))
    assert {(p.state, p.prints) for p in moved} == {("PRINT_READY", 0)}
    assert all(events(plant, p.pk)[-1] == "withdraw" for p in moved)
    driver = plant.printers["press-2"]
    assert not driver.layout.ticket(device_name(plant, job.job_id)).exists()
    assert "job-withdrawn-unprinted" in driver.status(job.job_id).reasons
    follow_print(job.job_id)  # the follower finds the job no longer its business
    assert jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].state == "REPLANNED"
    plan(submission)
    assert {j.printer for j in jobs(plant) if j.state == "PLANNED"} == {"press-1"}


def test_a_job_the_press_took_is_never_withdrawn(plant):
    """A job the press has taken (its ticket renamed into work/) stays SPOOLED on the press out of the
    plan."""
    planned(plant)
    job = on(plant, "press-2")[0]
    impose(job.job_id)
    spool(job.job_id)
    layout, name = plant.printers["press-2"].layout, device_name(plant, job.job_id)
    layout.work.mkdir(parents=True, exist_ok=True)
    layout.ticket(name).rename(layout.work_ticket(name))  # what the press does when it takes a job
    device_down(plant.ledger, plant.settings, "press-2")
    device_check("press-2")
    assert not withdraw(job.job_id)
    assert jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].state == "SPOOLED"
    assert {p.state for p in pieces(plant, t.pieces.c.job_id == job.job_id)} == {"SPOOLED"}
    assert layout.work_ticket(name).exists()


def test_a_withdrawal_interrupted_after_its_claim_is_finished_by_its_redelivery(plant):
    """A WITHDRAWING job (the plant died after claiming it) is finished by the next withdraw message."""
    planned(plant)
    job = on(plant, "press-2")[0]
    impose(job.job_id)
    spool(job.job_id)
    with plant.ledger.tx() as conn:
        conn.execute(
            t.print_jobs.update()
            .where(t.print_jobs.c.job_id == job.job_id)
            .values(state=JobState.WITHDRAWING.value)
        )
    assert withdraw(job.job_id)
    assert jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].state == "REPLANNED"
    assert withdraw(job.job_id) is False  # done: nothing more to do


def test_spool_releases_a_job_whose_press_left_the_plan_instead_of_sending_it(plant):
    """A job imposed for press-2 after press-2 left the plan (a plan that raced the operator) is not sent:
    the spool stage releases it to be planned again."""
    planned(plant)
    job = on(plant, "press-2")[0]
    impose(job.job_id)
    with plant.ledger.tx() as conn:  # out of the plan without the release `plant device down` does
        set_service(conn, "press-2", "printer", operator_down=True, reason="test")
    spool(job.job_id)
    assert jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].state == "REPLANNED"
    assert not (plant.printers["press-2"].layout.receipt(device_name(plant, job.job_id))).exists()


def test_jobs_for_a_device_taken_out_while_planning_are_not_written(plant, monkeypatch):
    """press-2 goes out of the plan while the plan stage computes: nothing is written for press-2, its pieces
    stay PRINT_READY, and the stage queues itself again."""
    plan_stage = importlib.import_module("plant.stages.plan")
    submission = plant.submission_id
    preflight(submission)
    route(submission)
    compute = plan_stage.plan_work

    def compute_then_operator_acts(*args, **kwargs):
        work = compute(*args, **kwargs)
        device_down(plant.ledger, plant.settings, "press-2")
        return work

    monkeypatch.setattr(plan_stage, "plan_work", compute_then_operator_acts)
    before = outbox(plant, "plan")[(submission,)]
    plan(submission)
    assert not on(plant, "press-2") and on(plant, "press-1")
    assert "PRINT_READY" in {p.state for p in pieces(plant)}
    assert outbox(plant, "plan")[(submission,)] == before + 1
    monkeypatch.setattr(plan_stage, "plan_work", compute)
    plan(submission)
    assert {p.state for p in pieces(plant)} == {"PLANNED"} and not on(plant, "press-2")


def test_pieces_only_a_device_out_of_the_plan_takes_wait_instead_of_failing(plant):
    """With the only inserter taking 4 sheets out of the plan, 4-sheet pieces wait PRINT_READY (not FAILED
    NO_INSERTER as when no inserter of the fleet takes them); back in the plan, they are planned."""
    plant.settings = dataclasses.replace(
        plant.settings,
        inserters=(InserterConfig("ins-wide", max_sheets=6), InserterConfig("ins-narrow", max_sheets=2)),
    )
    submission = plant.submission_id
    preflight(submission)
    route(submission)
    device_down(plant.ledger, plant.settings, "ins-wide")
    plan(submission)
    thick = [
        p
        for p in pieces(plant)
        if rows(plant, select(t.pieces.c.sheets).where(t.pieces.c.piece_id == p.piece_id))[0].sheets > 2
    ]
    assert thick and {piece.state for piece in pieces(plant) if piece in thick} == {"PRINT_READY"}
    device_up(plant.ledger, plant.settings, "ins-wide")
    plan(submission)
    assert {p.state for p in pieces(plant)} == {"PLANNED"}


def test_a_printed_job_goes_to_another_inserter_when_its_own_is_out_of_the_plan(plant):
    """The planned inserter taken down after planning: the printed job's insert run goes to one in service."""
    plant.settings = dataclasses.replace(
        plant.settings, inserters=(InserterConfig("ins-a"), InserterConfig("ins-b"))
    )
    plant.inserters = make_inserter_drivers(plant.settings, plant.plant_id)
    planned(plant)
    job = jobs(plant)[0]
    device_down(plant.ledger, plant.settings, job.inserter)
    impose(job.job_id)
    spool(job.job_id)
    config = next(p for p in plant.settings.printers if p.name == job.printer)
    SimulatedPress(job.printer, plant.settings.printer_folder(config), 6000, time_scale=0).step()
    follow_print(job.job_id)
    (run,) = rows(plant, select(t.insert_runs.c.inserter).where(t.insert_runs.c.job_id == job.job_id))
    assert run.inserter != job.inserter and run.inserter in {"ins-a", "ins-b"}


def test_the_hot_folder_proves_a_withdrawal_and_says_so_again(plant):
    """The driver's withdrawal removes the waiting ticket and answers True; asked again it still answers True
    (its status says withdrawn unprinted); a job it never had answers False."""
    planned(plant)
    job = on(plant, "press-2")[0]
    impose(job.job_id)
    spool(job.job_id)
    driver = plant.printers["press-2"]
    assert driver.withdraw(job.job_id) and driver.withdraw(job.job_id)
    assert driver.status(job.job_id).state.name == "CANCELED"
    assert not driver.withdraw("J999999")


def test_recovery_resumes_claimed_spools_and_withdrawals(plant):
    """After a crash, a job left SPOOLING is spooled (and its claim honoured), one left WITHDRAWING is
    withdrawn."""
    planned(plant)
    first, second = on(plant, "press-2")[:2]
    for job in (first, second):
        impose(job.job_id)
    with plant.ledger.tx() as conn:
        conn.execute(
            t.print_jobs.update().where(t.print_jobs.c.job_id == first.job_id).values(state="SPOOLING")
        )
        conn.execute(
            t.print_jobs.update().where(t.print_jobs.c.job_id == second.job_id).values(state="WITHDRAWING")
        )
    recover(plant.ledger)
    assert outbox(plant, "spool")[(first.job_id,)] >= 1 and outbox(plant, "withdraw")[(second.job_id,)] == 1
    spool(first.job_id)
    assert jobs(plant, t.print_jobs.c.job_id == first.job_id)[0].state == "SPOOLED"
    assert plant.printers["press-2"].find(first.job_id) is not None
