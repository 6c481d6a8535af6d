"""Builders for the scheduling tests: tiny instances from short tuples, and the unit suite's planner
budget."""

from __future__ import annotations

from plant.scheduling import Inserter, Instance, Job, Printer

#: Planner budget in the unit suite: enough for small instances, keeps the suite fast; no timing is asserted.
FAST = {"time_limit_s": 0.05, "max_trials": 3}


def instance(jobs, printers=(("P1", 60),), inserters=(("K1", 3600, 2),)) -> Instance:
    """An instance from short tuples: jobs (id, pieces, sheets, due[, ready, reprint])."""
    return Instance(
        tuple(Printer(i, v) for i, v in printers),
        tuple(Inserter(i, e, s) for i, e, s in inserters),
        tuple(Job(*j) for j in jobs),
    )


def property_settings():
    """Hypothesis settings of the scheduling properties: planning is too slow for Hypothesis's default
    deadline."""
    from hypothesis import HealthCheck, settings

    return settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_replan_keeps_running_work(inst, when, data, manual_explained):
    """Plan ``inst``, take a printer and an inserter (drawn from ``data``) down at ``when`` of the makespan,
    re-plan, and assert the re-plan passes the checker and leaves work running on up devices exactly where it
    was.

    A job printing at that moment may lose its inserter and go to the manual path;
    ``manual_explained(new_inst, job)`` must then say why that is right.
    """
    from hypothesis import strategies as st

    from plant.scheduling import check, plan, replan_instance

    first = plan(inst, **FAST)
    now = int(when * first.makespan_s)
    down_p = data.draw(st.lists(st.sampled_from([p.id for p in inst.printers]), max_size=1))
    down_k = data.draw(st.lists(st.sampled_from([k.id for k in inst.inserters]), max_size=1))
    new_inst = replan_instance(inst, first, now, printers_down=down_p, inserters_down=down_k)
    if not any(p.up for p in new_inst.printers) and len(new_inst.pins) < len(new_inst.jobs):
        return  # nothing can print: the planner refuses, tested elsewhere
    second = plan(new_inst, **FAST)
    assert check(new_inst, second) == ()
    after = second.by_job()
    manual = {m.job for m in second.manual}
    for a in first.assignments:
        if a.print_start_s < now < a.print_end_s and a.printer not in down_p:
            if a.job in manual:
                assert manual_explained(new_inst, a.job)
                continue
            b = after[a.job]
            assert (b.printer, b.print_start_s, b.print_end_s) == (a.printer, a.print_start_s, a.print_end_s)
        if a.insert_start_s < now < a.insert_end_s and a.inserter not in down_k:
            assert after[a.job] == a
