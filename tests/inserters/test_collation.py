"""Collation: every run record gets exactly one result, and every outsort says what was wrong."""

from __future__ import annotations

import pytest

from inserters import Outcome, RunRecord, collate

JOB = "J1"


def records(**pieces: int) -> list[RunRecord]:
    return [RunRecord(piece, sheets) for piece, sheets in pieces.items()]


def codes(*items: str | None) -> list[str | None]:
    return [None if item is None else f"{JOB}|{item}" for item in items]


def outcome(collated, piece):
    return collated.results[piece].outcome, collated.results[piece].reason


def test_clean_stack_inserts_every_piece():
    """Sheets 1..n of each piece in order: all inserted, each read whole."""
    out = collate(codes("a|1/2", "a|2/2", "b|1/1"), records(a=2, b=1), JOB, max_sheets=6)
    assert {p: r.outcome for p, r in out.results.items()} == {"a": Outcome.INSERTED, "b": Outcome.INSERTED}
    assert out.results["a"].sheets_read == 2


def test_missing_sheet_diverts_that_piece_only():
    """A piece missing sheet 2 of 3 is diverted saying so; the next piece is still inserted."""
    out = collate(codes("a|1/3", "a|3/3", "b|1/1"), records(a=3, b=1), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "sheet out of sequence: got 3/3 after 1/3")
    assert outcome(out, "b")[0] is Outcome.INSERTED


def test_piece_cut_short_names_the_missing_sheet():
    """A piece whose last sheet never comes is diverted with 'sheet k/n missing'."""
    out = collate(codes("a|1/3", "a|2/3", "b|1/1"), records(a=3, b=1), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "sheet 3/3 missing")


def test_unreadable_code_diverts_the_collation_in_progress():
    """An unreadable sheet outsorts itself and the piece being collated, naming the stack position."""
    out = collate(codes("a|1/2", None, "b|1/1"), records(a=2, b=1), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "unreadable control code on sheet 2 of the stack")
    assert any("sheet 2 of the stack" in o.reason for o in out.outsorted)
    assert outcome(out, "b")[0] is Outcome.INSERTED


def test_duplicate_piece_is_outsorted_and_counted_once():
    """A piece that arrives twice is inserted once; the duplicate is outsorted, and it keeps one result."""
    out = collate(codes("a|1/1", "a|1/1"), records(a=1), JOB, 6)
    assert outcome(out, "a")[0] is Outcome.INSERTED
    assert [o.reason for o in out.outsorted] == ["duplicate piece: already inserted in this run"]


def test_piece_not_in_run_data_is_outsorted():
    """Sheets of a piece the mail run data does not list are outsorted."""
    out = collate(codes("x|1/1", "a|1/1"), records(a=1), JOB, 6)
    assert [o.reason for o in out.outsorted] == ["not in mail run data"]
    assert set(out.results) == {"a"}


def test_divert_flag_is_honoured():
    """A record flagged divert is outsorted even when complete."""
    out = collate(codes("a|1/1"), [RunRecord("a", 1, divert=True)], JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "divert flag set")


def test_too_many_sheets_for_the_envelope():
    """A piece thicker than the envelope takes is outsorted, saying both numbers."""
    out = collate(codes("a|1/4", "a|2/4", "a|3/4", "a|4/4"), records(a=4), JOB, max_sheets=3)
    assert outcome(out, "a") == (Outcome.DIVERTED, "4 sheets exceed the 3 this envelope takes")


def test_record_without_sheets_is_missing():
    """A record none of whose sheets arrived is MISSING."""
    out = collate(codes("a|1/1"), records(a=1, b=2), JOB, 6)
    assert outcome(out, "b") == (Outcome.MISSING, "no sheet of the piece arrived")


def test_sheet_of_another_job_is_outsorted():
    """A sheet from another job is outsorted naming both jobs."""
    out = collate(["J9|a|1/1", f"{JOB}|a|1/1"], records(a=1), JOB, 6)
    assert "belongs to job J9, not J1" in out.outsorted[0].reason
    assert outcome(out, "a")[0] is Outcome.INSERTED


@pytest.mark.parametrize(("fault", "expected"), [
    (dict(jam=True), Outcome.DAMAGED),
    (dict(remove=True), Outcome.REMOVED),
])
def test_faults_mark_the_envelope(fault, expected):
    """A fault on an envelope that would be inserted gives DAMAGED (jam) or REMOVED (operator)."""
    def inject(piece, n):
        if piece != "b":
            return None
        return (Outcome.DAMAGED, "jam") if fault.get("jam") else (Outcome.REMOVED, "operator")
    out = collate(codes("a|1/1", "b|1/1"), records(a=1, b=1), JOB, 6, inject)
    assert outcome(out, "b")[0] is expected and outcome(out, "a")[0] is Outcome.INSERTED


@pytest.mark.parametrize("stack", [
    ["a|1/2", "a|2/2", "b|1/1"], ["a|2/2", "a|1/2", "b|1/1"], ["b|1/1", None, "a|1/2"], [], ["a|1/2", "a|1/2"],
    ["a|1/2", "b|1/1", "a|2/2", "a|1/2", "a|2/2"],
])
def test_every_record_gets_exactly_one_result(stack):
    """Whatever the stack holds, each record has exactly one result."""
    out = collate(codes(*stack), records(a=2, b=1), JOB, 6)
    assert sorted(out.results) == ["a", "b"]
