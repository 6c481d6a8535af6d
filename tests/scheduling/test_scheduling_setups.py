"""The fewest-setups pass between presses: runs of one stock moved to, or swapped with, another press."""

from __future__ import annotations

import time

from plant.scheduling import Inserter, Instance, Job, Printer
from plant.scheduling.setups import fewer_setups
from plant.scheduling.simulate import simulate
from plant.scheduling.tables import build_tables

#: Deadline far enough for the pass to stop only when nothing helps (small instances; no timing is asserted).
UNHURRIED_S = 30.0


def _presses(jobs, sequences, setup_s=100):
    """Two presses of 1 sheet/s with ``setup_s`` per change of stock, a fast inserter, and the schedule that
    runs ``sequences`` (job ids per press)."""
    inst = Instance(
        (Printer("P1", 60, setup_s=setup_s), Printer("P2", 60, setup_s=setup_s)),
        (Inserter("K", 36_000, 2),),
        tuple(jobs),
    )
    t = build_tables(inst, set())
    index = {job_id: n for n, job_id in enumerate(t.ids)}
    return t, simulate(t, [[index[j] for j in seq] for seq in sequences])


def _where(t, schedule):
    return {t.ids[j]: schedule.press[j] for j in schedule.pe}


def test_a_move_to_another_press_removes_setups_no_reordering_can():
    """G1 sits between two plain jobs on P1 and due times forbid reordering P1; beside the gloss job on P2 it
    costs no setup, so the pass moves it there: two setups fewer, nothing late, no longer makespan."""
    jobs = (
        Job("A1", 100, 1, 120),
        Job("G1", 50, 1, 300, stock="gloss"),
        Job("A2", 100, 1, 10_000),
        Job("G2", 300, 1, 10_000, stock="gloss"),
    )
    t, start = _presses(jobs, [["A1", "G1", "A2"], ["G2"]])
    assert (start.setups, start.late) == (2, 0)
    result = fewer_setups(t, start, time.perf_counter() + UNHURRIED_S)
    assert (result.setups, result.late) == (0, 0) and result.makespan <= start.makespan
    assert _where(t, result)["G1"] == "P2"


def test_a_swap_between_full_presses_removes_setups_no_move_can():
    """Both presses end together, so moving any job to the other lengthens the plan; swapping G1 (on the plain
    press) with A3 (on the gloss press) removes all four setups."""
    jobs = (
        Job("A1", 100, 1, 120),
        Job("G1", 50, 1, 300, stock="gloss"),
        Job("A2", 100, 1, 10_000),
        Job("G2", 100, 1, 120, stock="gloss"),
        Job("A3", 50, 1, 300),
        Job("G3", 100, 1, 10_000, stock="gloss"),
    )
    t, start = _presses(jobs, [["A1", "G1", "A2"], ["G2", "A3", "G3"]])
    assert (start.setups, start.late) == (4, 0)
    result = fewer_setups(t, start, time.perf_counter() + UNHURRIED_S)
    assert (result.setups, result.late) == (0, 0) and result.makespan <= start.makespan
    where = _where(t, result)
    assert (where["G1"], where["A3"]) == ("P2", "P1")


def test_no_move_between_presses_makes_a_job_late():
    """Moving G1 to P2 would save two setups but make a job late there: G1 itself after G2, G2 after G1."""
    jobs = (
        Job("A1", 100, 1, 120),
        Job("G1", 50, 1, 300, stock="gloss"),
        Job("A2", 100, 1, 10_000),
        Job("G2", 300, 1, 340, stock="gloss"),
    )
    t, start = _presses(jobs, [["A1", "G1", "A2"], ["G2"]])
    result = fewer_setups(t, start, time.perf_counter() + UNHURRIED_S)
    assert result.late == 0 and result.makespan <= start.makespan
    assert _where(t, result)["G1"] == "P1" and result.setups == 2
