"""Stage handlers are idempotent: a message delivered twice (dramatiq is at-least-once) does its work once."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from plant.ledger import schema as t
from plant.stages.impose import impose
from plant.stages.plan import plan
from plant.stages.preflight import preflight
from plant.stages.route import route
from plant.testing import accept_batch, installed_plant


@pytest.fixture
def plant(settings, small_batch):
    """A plant without devices, with the 12-letter batch accepted and its consents imported."""
    with installed_plant(settings, devices=False) as current:
        accept_batch(current, small_batch.submission, small_batch.consents)
        yield current


def count(plant, table, *where) -> int:
    with plant.ledger.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def states(plant) -> Counter:
    with plant.ledger.read() as conn:
        return Counter(conn.execute(select(t.letters.c.state)).scalars())


def test_preflight_twice_checks_once(plant):
    """A second preflight message finds nothing left to check."""
    preflight(plant.submission_id)
    preflight(plant.submission_id)
    assert count(plant, t.events, t.events.c.event == "preflight_pass") == 12


def test_route_twice_allocates_ids_once(plant):
    """Routing again creates no second piece and takes no further tracking ids."""
    preflight(plant.submission_id)
    route(plant.submission_id)
    pieces = count(plant, t.pieces)
    with plant.ledger.read() as conn:
        next_serial = conn.execute(select(t.id_ranges.c.next_serial)).scalar()
    route(plant.submission_id)
    with plant.ledger.read() as conn:
        assert conn.execute(select(t.id_ranges.c.next_serial)).scalar() == next_serial
    assert count(plant, t.pieces) == pieces
    assert states(plant)["PRINT_READY"] == pieces
    assert states(plant)["PRINT_READY"] + states(plant)["DELIVERED_DIGITAL"] == 12


def test_route_records_the_decision(plant, small_batch):
    """Every routed letter's event names the registry version, the time, the answer and the rule."""
    preflight(plant.submission_id)
    route(plant.submission_id)
    with plant.ledger.read() as conn:
        decisions = conn.execute(
            select(t.events.c.data).where(t.events.c.event.in_(["route_print", "route_digital"]))
        ).scalars()
        decisions = list(decisions)
    assert len(decisions) == 12
    assert all({"registry_version", "decided_at", "answer", "rule"} <= set(d) for d in decisions)


def test_plan_twice_makes_jobs_once(plant):
    """A duplicate plan message plans nothing more."""
    preflight(plant.submission_id)
    route(plant.submission_id)
    plan(plant.submission_id)
    jobs = count(plant, t.print_jobs)
    plan(plant.submission_id)
    assert jobs >= 1 and count(plant, t.print_jobs) == jobs
    assert states(plant)["PLANNED"] == count(plant, t.pieces)


def test_impose_twice_writes_once(plant):
    """Imposing a job already imposed changes nothing: one IMPOSED event per job."""
    preflight(plant.submission_id)
    route(plant.submission_id)
    plan(plant.submission_id)
    with plant.ledger.read() as conn:
        (job_id,) = conn.execute(select(t.print_jobs.c.job_id)).scalars().all()[:1]
    impose(job_id)
    impose(job_id)
    assert count(plant, t.events, t.events.c.entity == "job", t.events.c.event == "impose") == 1
    assert (plant.settings.spool_dir / f"{job_id}.pdf").exists()
