"""Builders for the scheduling tests: tiny instances from short tuples, and the unit suite's planner budget."""

from __future__ import annotations

from plant.scheduling import Inserter, Instance, Job, Printer

#: Planner budget in the unit suite: enough for small instances, keeps the suite fast; no timing is asserted.
FAST = {"time_limit_s": 0.05, "max_trials": 3}


def instance(jobs, printers=(("P1", 60),), inserters=(("K1", 3600, 2),)) -> Instance:
    """An instance from short tuples: jobs (id, pieces, sheets, due[, ready, reprint])."""
    return Instance(tuple(Printer(i, v) for i, v in printers),
                    tuple(Inserter(i, e, s) for i, e, s in inserters),
                    tuple(Job(*j) for j in jobs))
