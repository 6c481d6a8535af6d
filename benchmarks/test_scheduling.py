"""Scheduling: our planner against OR-Tools CP-SAT on the seeded reference instances of issue 6.

Reference instance: 200 jobs of 500–20,000 pieces with 1–8 sheets, presses at 100/150/300 sheets/min,
inserters at 14k/12k/10k/8k envelopes/h taking ≤ 6/8/10/12 sheets, due uniform in 0.25–1.1 × the capacity
lower bound. Goal: no late job, makespan ≤ 0.1 % above the lower bound, in ≤ 1 s; a re-plan after a press
failure in ≤ 100 ms. Every result is checked by the independent checker; figures go to ``extra_info``.
CP-SAT needs ``ortools`` (skipped without it).
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

import pytest

from plant.scheduling import check, plan, replan_instance
from plant.scheduling.bounds import on_time_bound, on_time_bound_inserters
from plant.scheduling.floor import on_time_floor
from plant.scheduling.model import can_insert, insert_seconds, print_seconds
from plant.scheduling.reference import reference_instance

#: Seeds of the reference instances measured (seed 0 is "the" reference instance).
SEEDS = (0, 1, 2)
#: CP-SAT's budget per instance, seconds (the issue's comparison ran it for 10 s).
CPSAT_SECONDS = 10.0


def _figures(inst, result, seconds):
    assert check(inst, result) == ()
    bound = on_time_bound(inst)
    strong = on_time_bound_inserters(inst, result.lower_bound_s)
    floor = on_time_floor(inst, result.lower_bound_s)
    return {
        "makespan_s": result.makespan_s,
        "lower_bound_s": result.lower_bound_s,
        "on_time_bound_s": bound,
        "on_time_bound_inserters_s": strong,
        "gap_percent": round(result.gap_percent, 4),
        "gap_on_time_percent": round(100 * (result.makespan_s - bound) / bound, 4),
        # what no plan without late jobs can beat, in percent above the lower bound: the 0.1 % goal
        # is out of reach whenever this exceeds 0.1
        "on_time_floor_s": floor,
        "floor_on_time_percent": round(100 * (floor - result.lower_bound_s) / result.lower_bound_s, 4),
        "late_jobs": len(result.late_jobs),
        "seconds": round(seconds, 3),
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_planner_reference(benchmark, seed):
    """Our planner with its default 1 s budget."""
    inst = reference_instance(seed)
    runs = []

    def run():
        start = time.perf_counter()
        runs.append((plan(inst), time.perf_counter() - start))

    benchmark.pedantic(run, rounds=3, iterations=1)
    result, seconds = runs[-1]
    benchmark.extra_info.update(_figures(inst, result, seconds))


#: Stocks drawn per job in the stocked variant, and the presses' setup time per change of stock, seconds.
STOCKS, SETUP_S = ("plain", "gloss", "recycled"), 600


def stocked_instance(seed: int):
    """The reference instance with a random stock per job and a 600 s setup per change of stock."""
    inst = reference_instance(seed)
    rng = random.Random(seed)
    return replace(
        inst,
        printers=tuple(replace(p, setup_s=SETUP_S) for p in inst.printers),
        jobs=tuple(replace(j, stock=rng.choice(STOCKS)) for j in inst.jobs),
    )


@pytest.mark.parametrize("seed", SEEDS[:1])
def test_planner_with_stocks(benchmark, seed):
    """Stocks and setups (the bounds ignore setups, so the gap includes the setup time)."""
    inst = stocked_instance(seed)
    runs = []

    def run():
        start = time.perf_counter()
        runs.append((plan(inst), time.perf_counter() - start))

    benchmark.pedantic(run, rounds=3, iterations=1)
    result, seconds = runs[-1]
    benchmark.extra_info.update(
        {
            **_figures(inst, result, seconds),
            "setups": result.setups,
            "setups_list_schedule_only": plan(inst, 0.0).setups,
        }
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_replan_after_press_failure(benchmark, seed):
    """Re-plan at a third of the plan after the fastest press fails: build the instance and plan it."""
    inst = reference_instance(seed)
    first = plan(inst)
    now = first.makespan_s // 3
    results = []

    def run():
        new_inst = replan_instance(inst, first, now, printers_down=["press-3"])
        results.append((new_inst, plan(new_inst, 0.05)))

    benchmark.pedantic(run, rounds=10, iterations=1)
    new_inst, result = results[-1]
    assert check(new_inst, result) == ()
    kept = sum(1 for p in new_inst.pins)
    benchmark.extra_info.update(
        {
            "makespan_s": result.makespan_s,
            "lower_bound_s": result.lower_bound_s,
            "gap_percent": round(result.gap_percent, 4),
            "late_jobs": len(result.late_jobs),
            "pinned_running_jobs": kept,
            "jobs_replanned": len(new_inst.jobs) - kept,
        }
    )


def _cpsat(inst, deadlines: bool, seconds: float):
    """CP-SAT on the same model: optional intervals per device, insert after print, min makespan."""
    cp_model = pytest.importorskip("ortools.sat.python.cp_model")
    m = cp_model.CpModel()
    horizon = sum(
        max(print_seconds(j.pieces, j.sheets_per_piece, p.sheets_per_min) for p in inst.printers)
        for j in inst.jobs
    )
    per_press = {p.id: [] for p in inst.printers}
    per_ins = {k.id: [] for k in inst.inserters}
    ends, choice = [], {}
    for j in inst.jobs:
        ps, pe = m.new_int_var(0, horizon, ""), m.new_int_var(0, horizon, "")
        qs, qe = m.new_int_var(0, horizon, ""), m.new_int_var(0, horizon, "")
        lits = []
        for p in inst.printers:
            x = m.new_bool_var("")
            d = print_seconds(j.pieces, j.sheets_per_piece, p.sheets_per_min)
            per_press[p.id].append(m.new_optional_interval_var(ps, d, pe, x, ""))
            lits.append(x)
            choice[(j.id, p.id)] = x
        m.add_exactly_one(lits)
        lits = []
        for k in inst.inserters:
            if not can_insert(j, k):
                continue
            y = m.new_bool_var("")
            per_ins[k.id].append(
                m.new_optional_interval_var(qs, insert_seconds(j.pieces, k.envelopes_per_hour), qe, y, "")
            )
            lits.append(y)
            choice[(j.id, k.id)] = y
        m.add_exactly_one(lits)
        m.add(qs >= pe)
        if deadlines:
            m.add(qe <= j.due_s)
        ends.append(qe)
    for intervals in [*per_press.values(), *per_ins.values()]:
        m.add_no_overlap(intervals)
    makespan = m.new_int_var(0, horizon, "makespan")
    m.add_max_equality(makespan, ends)
    m.minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 8
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, solver.status_name(status), None
    late = sum(1 for j, e in zip(inst.jobs, ends, strict=True) if solver.value(e) > j.due_s)
    return solver.value(makespan), solver.status_name(status), late


@pytest.mark.parametrize("deadlines", [False, True], ids=["makespan-only", "due-as-deadlines"])
@pytest.mark.parametrize("seed", SEEDS[:1])
def test_cpsat_reference(benchmark, seed, deadlines):
    """CP-SAT for 10 s: minimising makespan only (as in the issue), and with due times as hard deadlines."""
    inst = reference_instance(seed)
    out = []
    benchmark.pedantic(lambda: out.append(_cpsat(inst, deadlines, CPSAT_SECONDS)), rounds=1, iterations=1)
    makespan, status, late = out[-1]
    ours = plan(inst)
    benchmark.extra_info.update(
        {
            "status": status,
            "makespan_s": makespan,
            "late_jobs": late,
            "lower_bound_s": ours.lower_bound_s,
            "gap_percent": None
            if makespan is None
            else round(100 * (makespan - ours.lower_bound_s) / ours.lower_bound_s, 4),
            "ours_makespan_s": ours.makespan_s,
            "ours_late_jobs": len(ours.late_jobs),
        }
    )
