"""Inserter setups: a run needing another envelope or other inserts than the inserter is set up for pays
its setup time; the planner plans it, the checker verifies it, re-plans remember what each inserter is set
up for."""

from __future__ import annotations

from dataclasses import replace

import pytest

from plant.scheduling import (
    Inserter,
    Instance,
    Job,
    Printer,
    ScheduleError,
    check,
    instance_from_json,
    instance_to_json,
    plan,
    replan_instance,
)
from plant.scheduling.reference import reference_instance
from tests.scheduling.helpers import FAST

#: A press so fast that prints take a second: the inserter decides every time below.
FAST_PRESS = Printer("P", 6000)


def _runs(result, inserter):
    return sorted((a for a in result.assignments if a.inserter == inserter), key=lambda a: a.insert_start_s)


def _one_inserter(jobs, **inserter):
    return Instance((FAST_PRESS,), (Inserter("K", 3600, 4, **inserter),), tuple(jobs))


def test_a_change_of_envelope_waits_for_the_setup():
    """Two envelopes on one inserter: the second run starts at least setup_s after the first ends."""
    inst = _one_inserter(
        [Job("A", 100, 1, 10_000, envelope="C5"), Job("B", 100, 1, 10_000, envelope="DL")], setup_s=500
    )
    result = plan(inst, **FAST)
    assert check(inst, result) == () and result.setups == 1
    first, second = _runs(result, "K")
    assert second.insert_start_s >= first.insert_end_s + 500


def test_checker_rejects_a_plan_that_ignores_an_inserter_setup():
    """The same plan with the second run moved up against the first is caught, naming the setup."""
    inst = _one_inserter(
        [Job("A", 100, 1, 10_000, envelope="C5"), Job("B", 100, 1, 10_000, envelope="DL")], setup_s=500
    )
    result = plan(inst, **FAST)
    first, second = _runs(result, "K")
    span = second.insert_end_s - second.insert_start_s
    squeezed = replace(
        result,
        makespan_s=first.insert_end_s + span,
        assignments=tuple(
            replace(a, insert_start_s=first.insert_end_s, insert_end_s=first.insert_end_s + span)
            if a.job == second.job
            else a
            for a in result.assignments
        ),
    )
    violations = check(inst, squeezed)
    assert violations and all("without its 500 s setup" in v for v in violations)


def test_checker_counts_inserter_setups():
    """A plan that reports only the presses' setups is caught."""
    inst = _one_inserter([Job("A", 10, 1, 10_000, envelope="C5"), Job("B", 10, 1, 10_000, envelope="DL")])
    result = plan(inst, **FAST)
    assert result.setups == 1
    assert any(
        "inserters change envelope or inserts 1 times" in v for v in check(inst, replace(result, setups=0))
    )


def test_loaded_envelope_costs_a_setup_before_the_first_run():
    """An inserter loaded with DL sets up before a C5 run, from when it is available."""
    inst = _one_inserter(
        [Job("A", 100, 1, 10_000, envelope="C5")], setup_s=300, available_s=50, loaded_envelope="DL"
    )
    result = plan(inst, **FAST)
    assert check(inst, result) == () and result.setups == 1
    assert result.by_job()["A"].insert_start_s >= 350


def test_a_change_of_inserts_costs_a_setup_and_no_inserts_keep_the_feeders():
    """BRE, then nothing, then a flyer: one change (a run without inserts leaves the feeders as they are)."""
    jobs = [
        Job("B", 10, 1, 100, inserts=("BRE",)),
        Job("N", 10, 1, 200),
        Job("F", 10, 1, 300, inserts=("flyer",)),
    ]
    inst = _one_inserter(jobs, setup_s=30, feeders=("BRE", "flyer"))
    result = plan(inst, **FAST)
    assert check(inst, result) == ()
    assert [a.job for a in _runs(result, "K")] == ["B", "N", "F"] and result.setups == 1


def test_a_job_naming_no_envelope_runs_in_the_loaded_one():
    """Jobs without an envelope between two C5 runs cost nothing: no setup at all."""
    jobs = [Job("A", 10, 1, 100, envelope="C5"), Job("N", 10, 1, 200), Job("B", 10, 1, 300, envelope="C5")]
    inst = _one_inserter(jobs, setup_s=30, loaded_envelope="C5")
    result = plan(inst, **FAST)
    assert check(inst, result) == () and result.setups == 0


def test_each_run_goes_to_the_inserter_already_set_up_for_it():
    """Two equal inserters, one set up for C5 and one for DL: every run goes where it needs no setup."""
    inserters = (
        Inserter("K-C5", 3600, 4, setup_s=1000, loaded_envelope="C5"),
        Inserter("K-DL", 3600, 4, setup_s=1000, loaded_envelope="DL"),
    )
    jobs = tuple(Job(f"J{i}", 50, 1, 10_000, envelope="DL" if i % 2 else "C5") for i in range(6))
    inst = Instance((FAST_PRESS,), inserters, jobs)
    result = plan(inst, **FAST)
    assert check(inst, result) == () and result.setups == 0
    assert all(a.inserter == f"K-{inst.job(a.job).envelope}" for a in result.assignments)


def test_jobs_of_one_envelope_follow_each_other_when_it_costs_nothing():
    """Alternating envelopes with loose due times, one inserter: the press order puts each envelope together,
    so the inserter changes once."""
    jobs = tuple(Job(f"J{i}", 50, 1, 10**6, envelope="DL" if i % 2 else "C5") for i in range(6))
    inst = Instance((Printer("P", 60),), (Inserter("K", 36_000, 4, setup_s=20),), jobs)
    result = plan(inst, **FAST)
    assert check(inst, result) == () and result.late_jobs == ()
    assert result.setups == 1


def test_replan_remembers_what_each_inserter_is_set_up_for():
    """After a re-plan the inserter is set up for the last run it started; the next change pays its setup."""
    jobs = [
        Job("A", 100, 1, 10_000, envelope="C5", inserts=("BRE",)),
        Job("B", 100, 1, 10_000, envelope="DL"),
    ]
    inst = _one_inserter(jobs, setup_s=200, feeders=("BRE",))
    first = plan(inst, **FAST)
    running = _runs(first, "K")[0]
    new = replan_instance(inst, first, running.insert_start_s + 1)
    started = inst.job(running.job)
    assert (new.inserters[0].loaded_envelope, new.inserters[0].loaded_inserts) == (
        started.envelope,
        started.inserts or None,
    )
    second = plan(new, **FAST)
    assert check(new, second) == () and second.setups == 1


def test_reference_instance_has_no_inserter_setups():
    """The defaults leave the reference instance as it was: no new fields in its JSON, no setups in its
    plan."""
    inst = reference_instance(0)
    assert all(
        set(row) == {"id", "envelopes_per_hour", "max_sheets", "available_s", "up"}
        for row in instance_to_json(inst)["inserters"]
    )
    assert plan(inst, 0.0).setups == 0


def test_inserter_setup_fields_round_trip_through_json():
    """setup_s, loaded_envelope and loaded_inserts are written when set and read back."""
    inst = _one_inserter(
        [Job("A", 10, 1, 100)], setup_s=90, loaded_envelope="C5", loaded_inserts=("BRE",), feeders=("BRE",)
    )
    row = instance_to_json(inst)["inserters"][0]
    assert (row["setup_s"], row["loaded_envelope"], row["loaded_inserts"]) == (90, "C5", ["BRE"])
    assert instance_from_json(instance_to_json(inst)) == inst


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"setup_s": -1}, "inserters[K].setup_s"),
        ({"loaded_envelope": ""}, "inserters[K].loaded_envelope"),
        ({"loaded_inserts": "BRE"}, "inserters[K].loaded_inserts"),
    ],
)
def test_bad_inserter_setup_field_is_named(changes, field):
    """A malformed inserter setup field raises ScheduleError naming it."""
    with pytest.raises(ScheduleError) as err:
        _one_inserter([], **changes)
    assert err.value.field == field
