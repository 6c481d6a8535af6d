"""What must match: stocks, duplex, colour, sheet sizes, envelopes, feeders; setups on a change of stock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from plant.scheduling import (
    Inserter,
    Instance,
    Job,
    Pin,
    Printer,
    ScheduleError,
    check,
    instance_from_json,
    instance_to_json,
    plan,
    plan_from_json,
    plan_to_json,
    replan_instance,
)
from tests.scheduling.helpers import FAST


def _edit(result, job, **changes):
    return replace(
        result, assignments=tuple(replace(a, **changes) if a.job == job else a for a in result.assignments)
    )


@pytest.fixture
def mixed():
    """Two presses (one mono simplex on plain/A4 only), two inserters (C5 with a BRE feeder, DL without)."""
    printers = (
        Printer("mono", 120, stocks=("plain",), duplex=False, colour=False, sheet_sizes=("A4",)),
        Printer("full", 60, stocks=("plain", "gloss"), setup_s=300, loaded_stock="plain"),
    )
    inserters = (
        Inserter("C5", 3600, 6, envelopes=("C5",), feeders=("BRE",)),
        Inserter("DL", 7200, 6, envelopes=("DL",)),
    )
    jobs = (
        Job("A", 60, 1, 10_000, stock="gloss"),
        Job("B", 60, 1, 10_000, duplex=True),
        Job("C", 60, 1, 10_000, colour=True, envelope="DL"),
        Job("D", 60, 1, 10_000, sheet_size="A3"),
        Job("E", 60, 1, 10_000, inserts=("BRE",)),
        Job("F", 60, 1, 10_000, envelope="C5"),
        Job("G", 60, 1, 10_000, stock="gloss", envelope="DL"),
    )
    return Instance(printers, inserters, jobs)


def test_jobs_go_only_to_devices_that_match(mixed):
    """Stock, duplex, colour and size decide the press; envelope and feeders decide the inserter."""
    result = plan(mixed, **FAST)
    assert check(mixed, result) == ()
    by = result.by_job()
    for job in "ABCDG":
        assert by[job].printer == "full"
    assert by["C"].inserter == "DL" and by["G"].inserter == "DL"
    assert by["E"].inserter == "C5" and by["F"].inserter == "C5"


def test_setup_is_paid_on_a_change_of_stock_and_reported(mixed):
    """The press loaded with plain pays 300 s before gloss; the plan counts its setups."""
    result = plan(mixed, **FAST)
    rows = sorted((a for a in result.assignments if a.printer == "full"), key=lambda a: a.print_start_s)
    stocks = [mixed.job(a.job).stock for a in rows]
    changes = sum(1 for x, y in zip(["plain", *stocks], stocks, strict=False) if x != y)
    assert result.setups == changes >= 1
    for (prev, s0), (a, s1) in zip(
        zip([None, *rows], ["plain", *stocks], strict=True), zip(rows, stocks, strict=True), strict=False
    ):
        if s0 != s1:
            assert a.print_start_s >= (prev.print_end_s if prev else 0) + 300
    assert plan_to_json(result)["setups"] == result.setups


def test_same_stock_jobs_are_grouped_when_it_costs_nothing():
    """Alternating stocks with loose due times: one press, one change of stock at most."""
    jobs = tuple(Job(f"J{i}", 60, 1, 10**6, stock="gloss" if i % 2 else "plain") for i in range(8))
    inst = Instance((Printer("P", 60, setup_s=120),), (Inserter("K", 36_000, 2),), jobs)
    result = plan(inst, **FAST)
    assert check(inst, result) == ()
    assert result.setups == 1


def test_grouping_never_makes_a_job_late():
    """Due times that force alternating stocks keep the setups rather than a late job."""
    jobs = (
        Job("P1", 60, 1, 61, stock="plain"),
        Job("G1", 60, 1, 200, stock="gloss"),
        Job("P2", 60, 1, 600, stock="plain"),
    )
    inst = Instance((Printer("P", 60, setup_s=60),), (Inserter("K", 360_000, 2),), jobs)
    result = plan(inst, **FAST)
    assert check(inst, result) == ()
    assert result.late_jobs == () and result.setups == 2


def test_job_no_device_can_take_goes_manual_with_the_reason(mixed):
    """A stock no press runs, or an insert no feeder holds, goes to the manual path with the reason."""
    inst = replace(
        mixed,
        jobs=(
            Job("X", 5, 1, 100, stock="kraft"),
            Job("Y", 5, 1, 100, inserts=("flyer",)),
            Job("Z", 5, 1, 100, envelope="C4"),
        ),
    )
    result = plan(inst, **FAST)
    assert check(inst, result) == ()
    reasons = {m.job: m.reason for m in result.manual}
    assert "stock 'kraft'" in reasons["X"]
    assert "flyer" in reasons["Y"] and "'C4'" in reasons["Z"]


def test_two_of_an_insert_need_two_feeders():
    """Feeders hold one insert each: a job with two BREs needs two feeders holding BRE."""
    one = Inserter("K1", 3600, 6, feeders=("BRE", "flyer"))
    two = Inserter("K2", 1800, 6, feeders=("BRE", "BRE"))
    inst = Instance((Printer("P", 60),), (one, two), (Job("J", 10, 1, 10_000, inserts=("BRE", "BRE")),))
    result = plan(inst, **FAST)
    assert check(inst, result) == () and result.by_job()["J"].inserter == "K2"


@pytest.mark.parametrize(
    ("job", "changes", "words"),
    [
        ("A", {"printer": "mono"}, "stock 'gloss'"),
        ("B", {"printer": "mono"}, "no duplex"),
        ("D", {"printer": "mono"}, "sheet size 'A3'"),
        ("C", {"inserter": "C5"}, "envelope 'DL'"),
        ("E", {"inserter": "DL"}, "['BRE']"),
    ],
)
def test_checker_catches_a_device_that_does_not_match(mixed, job, changes, words):
    """The independent checker names the attribute a device lacks."""
    good = plan(mixed, **FAST)
    a = good.by_job()[job]
    if "printer" in changes:
        span = -(-60 * 60 // 120)
        changes = {
            **changes,
            "print_start_s": 10**6,
            "print_end_s": 10**6 + span,
            "insert_start_s": 10**6 + span,
            "insert_end_s": 10**6 + span + a.insert_end_s - a.insert_start_s,
        }
    elif changes["inserter"] == "DL":
        changes = {**changes, "insert_end_s": a.insert_start_s + 30}
    else:
        changes = {**changes, "insert_end_s": a.insert_start_s + 60}
    assert any(words in v for v in check(mixed, _edit(good, job, **changes)))


def test_checker_catches_a_missing_setup_and_a_wrong_count():
    """Two stocks back to back without the setup gap, and a plan that misreports its setups."""
    inst = Instance(
        (Printer("P", 60, setup_s=100),),
        (Inserter("K", 3600, 2),),
        (Job("A", 10, 1, 10_000), Job("B", 10, 1, 10_000, stock="gloss")),
    )
    good = plan(inst, **FAST)
    assert check(inst, good) == () and good.setups == 1
    first, second = sorted(good.assignments, key=lambda a: a.print_start_s)
    squeezed = _edit(good, second.job, print_start_s=first.print_end_s, print_end_s=first.print_end_s + 10)
    assert any("setup" in v for v in check(inst, squeezed))
    assert any("setups is 0" in v for v in check(inst, replace(good, setups=0)))


def test_loaded_stock_costs_a_setup_before_the_first_job():
    """A press loaded with another stock sets up before its first job."""
    inst = Instance(
        (Printer("P", 60, setup_s=100, loaded_stock="gloss"),),
        (Inserter("K", 3600, 2),),
        (Job("A", 10, 1, 10_000),),
    )
    result = plan(inst, **FAST)
    assert check(inst, result) == () and result.setups == 1
    assert result.by_job()["A"].print_start_s >= 100


def test_replan_keeps_the_loaded_stock():
    """After a re-plan the press still holds the stock of the job it started last."""
    inst = Instance(
        (Printer("P", 60, setup_s=50),),
        (Inserter("K", 36_000, 2),),
        (Job("A", 600, 1, 10**6, stock="gloss"), Job("B", 60, 1, 10**6)),
    )
    first = plan(inst, **FAST)
    started = min(first.assignments, key=lambda a: a.print_start_s)
    new = replan_instance(inst, first, started.print_start_s + 1)
    assert new.printers[0].loaded_stock == inst.job(started.job).stock
    assert new.pins == (Pin(started.job, "P", started.print_start_s, started.print_end_s),)
    second = plan(new, **FAST)
    assert check(new, second) == () and second.setups == 1


def test_attributes_round_trip_through_json(mixed):
    """The new optional fields survive JSON; an instance without them reads as before."""
    data = instance_to_json(mixed)
    assert data["printers"][0]["stocks"] == ["plain"] and "setup_s" not in data["printers"][0]
    assert data["jobs"][4]["inserts"] == ["BRE"] and "stock" not in data["jobs"][1]
    assert instance_from_json(data) == mixed
    result = plan(mixed, **FAST)
    assert plan_from_json(plan_to_json(result)) == result


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Printer("P", 10, setup_s=-1), "printers[P].setup_s"),
        (lambda: Printer("P", 10, stocks=("",)), "printers[P].stocks"),
        (lambda: Printer("P", 10, loaded_stock=""), "printers[P].loaded_stock"),
        (lambda: Inserter("K", 10, 1, feeders="BRE"), "inserters[K].feeders"),
        (lambda: Job("J", 1, 1, 5, stock=None), "jobs[J].stock"),
        (lambda: Job("J", 1, 1, 5, inserts=["BRE"]), "jobs[J].inserts"),
    ],
)
def test_bad_attribute_names_the_field(build, field):
    """A malformed attribute raises ScheduleError naming it."""
    thing = build()
    printers = (thing,) if isinstance(thing, Printer) else (Printer("P", 10),)
    inserters = (thing,) if isinstance(thing, Inserter) else ()
    jobs = (thing,) if isinstance(thing, Job) else ()
    with pytest.raises(ScheduleError) as err:
        Instance(printers, inserters, jobs)
    assert err.value.field == field


def test_running_print_of_a_job_gone_manual_still_holds_its_press():
    """Its inserter failed, so the job goes manual, but its print runs on: no other job may share the
    press."""
    inst = Instance(
        (Printer("P0", 50),),
        (Inserter("K0", 3600, 2), Inserter("K1", 3600, 1)),
        (Job("J0", 5, 2, 0), Job("J1", 1, 1, 0), Job("J2", 1, 1, 0)),
    )
    first = plan(inst, **FAST)
    j0 = first.by_job()["J0"]
    new = replan_instance(inst, first, j0.print_end_s - 1, inserters_down=["K0"])
    second = plan(new, **FAST)
    assert [m.job for m in second.manual] == ["J0"]
    assert check(new, second) == ()
    assert all(a.print_start_s >= j0.print_end_s for a in second.assignments)
    squeezed = _edit(second, "J1", print_start_s=j0.print_start_s, print_end_s=j0.print_start_s + 2)
    assert any("running print of J0" in v for v in check(new, squeezed))
