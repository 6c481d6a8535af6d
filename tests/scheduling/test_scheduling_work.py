"""The plan stage's adapter: pieces grouped into bounded jobs, the manual path, the plan."""

from __future__ import annotations

import pytest

from plant.scheduling import Inserter, Piece, Printer, ScheduleError, plan_work

PRINTERS = (Printer("press-1", 150), Printer("press-2", 120))
INSERTERS = (Inserter("ins-1", 8000, 6), Inserter("ins-2", 6000, 8))


def _pieces():
    pieces = [Piece(i, 1 + i % 3, "A" if i % 2 else "B", 10_000 + i) for i in range(40)]
    return pieces + [Piece(100, 2, "A", 500, reprint=True), Piece(101, 12, "A", 500)]


def test_jobs_are_bounded_and_hold_matching_pieces():
    """Every job holds pieces of one class, sheet count and reprint flag, at most max_job_pieces of them."""
    work = plan_work(PRINTERS, INSERTERS, _pieces(), now_s=1000, max_job_pieces=4)
    by_id = {p.id: p for p in _pieces()}
    for job in work.jobs:
        assert 1 <= len(job.pieces) <= 4
        assert {(by_id[p].mail_class, by_id[p].sheets, by_id[p].reprint) for p in job.pieces} == {
            (job.mail_class, job.sheets_per_piece, job.reprint)
        }
    planned = sorted(p for job in work.jobs for p in job.pieces)
    assert planned == sorted(p.id for p in _pieces() if p.id != 101)
    assert {a.job for a in work.plan.assignments} == {j.job for j in work.jobs}


def test_too_thick_pieces_go_manual_with_reason():
    """A piece with more sheets than any inserter takes goes to the manual path with the reason."""
    work = plan_work(PRINTERS, INSERTERS, _pieces(), now_s=0)
    assert [m.piece for m in work.manual] == [101]
    assert "12 sheets" in work.manual[0].reason


def test_plan_starts_now_and_reprints_lead():
    """Nothing is printed before now, and the reprint job is printed first on its press."""
    work = plan_work(PRINTERS, INSERTERS, _pieces(), now_s=1000)
    assert min(a.print_start_s for a in work.plan.assignments) >= 1000
    reprint = next(j.job for j in work.jobs if j.reprint)
    first = min(work.plan.assignments, key=lambda a: a.print_start_s)
    assert first.job == reprint


def test_bad_job_size_is_refused():
    """max_job_pieces must be a positive whole number."""
    with pytest.raises(ScheduleError, match="max_job_pieces"):
        plan_work(PRINTERS, INSERTERS, _pieces(), now_s=0, max_job_pieces=0)
