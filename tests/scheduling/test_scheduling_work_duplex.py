"""plan_work with duplex as the letter's choice: duplex and simplex pieces never share a job, duplex jobs go
only to duplex-capable presses, simplex jobs to any press, and duplex pieces no press prints go manual with
the reason."""

from __future__ import annotations

from plant.scheduling import Inserter, Piece, Printer, plan_work
from plant.scheduling.work import ManualCode

INSERTERS = (Inserter("ins", 6000, 4),)


def _pieces(start: int, count: int, sheets: int, duplex: bool) -> list[Piece]:
    return [Piece(start + n, sheets, "standard", 100_000, duplex=duplex) for n in range(count)]


def test_duplex_and_simplex_pieces_form_separate_jobs_on_presses_that_can_print_them():
    """On an even fleet of a simplex and a duplex press, every job is all-duplex or all-simplex (Job.duplex
    set), and every duplex job is on the duplex press."""
    duplex, simplex = _pieces(0, 20, 2, True), _pieces(100, 20, 2, False)
    work = plan_work(
        (Printer("s", 300, duplex=False), Printer("d", 300)),
        INSERTERS,
        duplex + simplex,
        now_s=0,
        max_job_pieces=5,
    )
    wanted = {p.id: p.duplex for p in duplex + simplex}
    where = {a.job: a.printer for a in work.plan.assignments}
    assert {j.duplex for j in work.jobs} == {True, False}
    for job in work.jobs:
        assert {wanted[p] for p in job.pieces} == {job.duplex}
        if job.duplex:
            assert where[job.job] == "d"


def test_a_duplex_press_takes_simplex_jobs_when_it_is_the_better_place():
    """A simplex job may go to a duplex-capable press: with the simplex press at a sheet a minute, all go
    there."""
    work = plan_work(
        (Printer("s", 1, duplex=False), Printer("d", 600)),
        INSERTERS,
        _pieces(0, 6, 3, False),
        now_s=0,
        max_job_pieces=2,
    )
    assert {a.printer for a in work.plan.assignments} == {"d"} and not any(j.duplex for j in work.jobs)


def test_duplex_pieces_no_press_prints_go_manual_naming_duplex():
    """Without a duplex-capable press the duplex pieces go manual (NO_PRESS, the reason says duplex); the
    simplex ones are planned."""
    duplex, simplex = _pieces(0, 3, 1, True), _pieces(10, 3, 1, False)
    work = plan_work((Printer("s", 300, duplex=False),), INSERTERS, duplex + simplex, now_s=0)
    manual = {m.piece: m for m in work.manual}
    assert set(manual) == {p.id for p in duplex}
    assert all(m.code is ManualCode.NO_PRESS and "duplex" in m.reason for m in manual.values())
    assert {p for j in work.jobs for p in j.pieces} == {p.id for p in simplex}
