"""The plan stage's adapter carries what pieces need into the jobs: stock, duplex, colour, sheet size,
envelope and inserts decide the grouping and the devices; what no device takes goes manual with a code."""

from __future__ import annotations

import itertools

from plant.scheduling import Inserter, Instance, Job, Piece, Printer, check, plan_work
from plant.scheduling.work import ManualCode

#: A fast plain simplex black A4 press, and a slow one that does everything on plain or gloss.
PRINTERS = (
    Printer("mono", 300, stocks=("plain",), duplex=False, colour=False, sheet_sizes=("A4",)),
    Printer("full", 60, stocks=("plain", "gloss")),
)
#: A C5 inserter with a BRE feeder, and a faster DL inserter without feeders.
INSERTERS = (
    Inserter("ins-C5", 6000, 6, envelopes=("C5",), feeders=("BRE",)),
    Inserter("ins-DL", 8000, 6, envelopes=("DL",)),
)


_ids = itertools.count()


def _pieces(count, **needs):
    """``count`` two-sheet pieces of one class, due late, with ``needs`` (ids unique across the module)."""
    return [Piece(next(_ids), 2, "standard", 100_000, **needs) for _ in range(count)]


def _work(pieces):
    """plan_work on the fleet above; its plan must pass the checker for the formed jobs and their
    attributes."""
    work = plan_work(PRINTERS, INSERTERS, pieces, now_s=0, max_job_pieces=10)
    jobs = tuple(
        Job(
            j.job,
            len(j.pieces),
            j.sheets_per_piece,
            100_000,
            0,
            j.reprint,
            j.stock,
            j.duplex,
            j.colour,
            j.sheet_size,
            j.envelope,
            j.inserts,
        )
        for j in work.jobs
    )
    assert check(Instance(PRINTERS, INSERTERS, jobs), work.plan) == ()
    return work


def test_pieces_of_two_stocks_form_separate_jobs():
    """Plain and gloss pieces never share a job; gloss goes only to the press that runs it."""
    pieces = _pieces(15) + _pieces(15, stock="gloss")
    work = _work(pieces)
    stock = {p.id: p.stock for p in pieces}
    for job in work.jobs:
        assert {stock[p] for p in job.pieces} == {job.stock}
    assert {j.stock for j in work.jobs} == {"plain", "gloss"}
    where = {a.job: a.printer for a in work.plan.assignments}
    assert all(where[j.job] == "full" for j in work.jobs if j.stock == "gloss")


def test_a_duplex_piece_is_never_planned_on_a_simplex_only_press():
    """Duplex pieces print on the slow duplex press even though the fast simplex press is free."""
    work = _work(_pieces(30, duplex=True))
    assert work.jobs and all(j.duplex for j in work.jobs)
    assert {a.printer for a in work.plan.assignments} == {"full"}


def test_colour_and_sheet_size_decide_the_press():
    """Colour pieces and A3 pieces are printed only where the press can."""
    work = _work(_pieces(10, colour=True) + _pieces(10, sheet_size="A3") + _pieces(10))
    where = {a.job: a.printer for a in work.plan.assignments}
    assert all(where[j.job] == "full" for j in work.jobs if j.colour or j.sheet_size == "A3")


def test_envelope_and_inserts_decide_the_inserter():
    """DL pieces go to the DL inserter; pieces with a BRE to the inserter whose feeder holds one."""
    work = _work(_pieces(12, envelope="DL") + _pieces(12, inserts=("BRE",)))
    runs = {a.job: a.inserter for a in work.plan.assignments}
    for job in work.jobs:
        assert runs[job.job] == ("ins-DL" if job.envelope == "DL" else "ins-C5")
        assert job.inserts == (("BRE",) if job.envelope is None else ())


def test_pieces_no_device_takes_go_manual_with_reason_and_code():
    """An envelope or insert no inserter has, and a stock no press runs, go manual with the reason and
    code."""
    c4, flyer, kraft = _pieces(2, envelope="C4"), _pieces(2, inserts=("flyer",)), _pieces(2, stock="kraft")
    work = _work(c4 + flyer + kraft + _pieces(3))
    manual = {m.piece: m for m in work.manual}
    assert set(manual) == {p.id for p in c4 + flyer + kraft}
    assert all(manual[p.id].code is ManualCode.NO_INSERTER and "'C4'" in manual[p.id].reason for p in c4)
    assert all(manual[p.id].code is ManualCode.NO_INSERTER and "flyer" in manual[p.id].reason for p in flyer)
    assert all(manual[p.id].code is ManualCode.NO_PRESS and "'kraft'" in manual[p.id].reason for p in kraft)
    assert len(work.jobs) == 1


def test_job_ids_stay_apart_when_names_read_alike():
    """Stock "x-y" and stock "x" with envelope "y" would both read "…-x-y": the ids still differ."""
    inserters = (Inserter("any", 6000, 6),)
    pieces = [Piece(1, 1, "A", 1000, stock="x-y"), Piece(2, 1, "A", 1000, stock="x", envelope="y")]
    work = plan_work((Printer("P", 60),), inserters, pieces, now_s=0)
    assert len({j.job for j in work.jobs}) == 2 == len(work.plan.assignments)
