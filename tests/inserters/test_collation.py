"""Collation: every run record gets exactly one result, and every outsort says what was wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inserters import Faults, Outcome, RunRecord, collate

JOB = "J1"


def records(**pieces: int) -> list[RunRecord]:
    """One record per keyword: piece id → sheet count."""
    return [RunRecord(piece, sheets) for piece, sheets in pieces.items()]


def codes(*items: str | None) -> list[str | None]:
    """Control codes of this job for ``piece|i/n`` items (None = unreadable sheet)."""
    return [None if item is None else f"{JOB}|{item}" for item in items]


def outcome(collated, piece):
    """(outcome, reason) of a record."""
    return collated.results[piece].outcome, collated.results[piece].reason


def test_clean_stack_inserts_every_piece():
    """Sheets 1..n of each piece in order: all inserted, each read whole."""
    out = collate(codes("a|1/2", "a|2/2", "b|1/1"), records(a=2, b=1), JOB, max_sheets=6)
    assert {p: r.outcome for p, r in out.results.items()} == {"a": Outcome.INSERTED, "b": Outcome.INSERTED}
    assert out.results["a"].sheets_read == 2


def test_missing_sheet_diverts_that_piece_only():
    """A piece missing sheet 2 of 3 is diverted saying so; the next piece is still inserted."""
    out = collate(codes("a|1/3", "a|3/3", "b|1/1"), records(a=3, b=1), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "sheet 2/3 missing")
    assert outcome(out, "b")[0] is Outcome.INSERTED


def test_piece_cut_short_names_the_missing_sheet():
    """A piece whose last sheet never comes is diverted with 'sheet k/n missing'."""
    out = collate(codes("a|1/3", "a|2/3", "b|1/1"), records(a=3, b=1), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "sheet 3/3 missing")


def test_first_sheet_missing_is_named():
    """A piece whose stack starts at sheet 2 is diverted with 'sheet 1/n missing'."""
    out = collate(codes("a|2/2", "b|1/1"), records(a=2, b=1), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "sheet 1/2 missing")


def test_swapped_sheets_are_out_of_sequence():
    """Sheets 1, 3, 2 of a piece: diverted at the first break of the sequence."""
    out = collate(codes("a|1/3", "a|3/3", "a|2/3"), records(a=3), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "sheet out of sequence: got 3/3 after 1/3")


def test_unreadable_code_diverts_the_collation_in_progress():
    """An unreadable sheet is outsorted with the piece being collated, naming its place in the stack."""
    out = collate(codes("a|1/3", None, "a|3/3", "b|1/1"), records(a=3, b=1), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "unreadable control code on sheet 2 of the stack")
    assert outcome(out, "b")[0] is Outcome.INSERTED and out.outsorted == []


def test_unreadable_first_sheet_is_charged_to_the_piece_it_starts():
    """An unreadable sheet after a finished piece joins the sheets that follow it, not a new outsort."""
    out = collate(codes("b|1/1", None, "a|2/2"), records(a=2, b=1), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "unreadable control code on sheet 2 of the stack")


def test_lone_unreadable_sheet_is_outsorted():
    """An unreadable sheet that no following sheet explains is outsorted on its own."""
    out = collate(codes("b|1/1", None), records(b=1), JOB, 6)
    assert [(o.piece_id, o.reason) for o in out.outsorted] == [
        ("", "unreadable control code on sheet 2 of the stack")
    ]


def test_duplicate_piece_is_outsorted_and_counted_once():
    """A piece that arrives twice is inserted once; the duplicate is outsorted, and it keeps one result."""
    out = collate(codes("a|1/1", "a|1/1"), records(a=1), JOB, 6)
    assert outcome(out, "a")[0] is Outcome.INSERTED
    assert [o.reason for o in out.outsorted] == ["duplicate piece: already inserted in this run"]


def test_later_whole_copy_is_inserted_after_a_broken_one():
    """A broken first copy is outsorted and a later complete copy inserted: the record is INSERTED."""
    out = collate(codes("a|1/2", "b|1/1", "a|1/2", "a|2/2"), records(a=2, b=1), JOB, 6)
    assert outcome(out, "a")[0] is Outcome.INSERTED
    assert [o.reason for o in out.outsorted] == ["sheet 2/2 missing"]


def test_piece_not_in_run_data_is_outsorted():
    """Sheets of a piece the mail run data does not list are outsorted."""
    out = collate(codes("x|1/1", "a|1/1"), records(a=1), JOB, 6)
    assert [o.reason for o in out.outsorted] == ["not in mail run data"]
    assert set(out.results) == {"a"}


def test_divert_flag_is_honoured():
    """A record flagged divert is outsorted even when complete."""
    out = collate(codes("a|1/1"), [RunRecord("a", 1, divert=True)], JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "divert flag set")


def test_sheet_count_disagreeing_with_run_data_diverts():
    """A complete piece whose codes say another sheet count than its record is diverted, naming both."""
    out = collate(codes("a|1/1"), records(a=2), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "codes say 1 sheets, mail run data says 2")


def test_too_many_sheets_for_the_envelope():
    """A piece thicker than the envelope takes is outsorted, saying both numbers."""
    out = collate(codes("a|1/4", "a|2/4", "a|3/4", "a|4/4"), records(a=4), JOB, max_sheets=3)
    assert outcome(out, "a") == (Outcome.DIVERTED, "4 sheets exceed the 3 this envelope takes")


def test_record_without_sheets_is_missing():
    """A record none of whose sheets arrived is MISSING with no sheet read."""
    out = collate(codes("a|1/1"), records(a=1, b=2), JOB, 6)
    assert outcome(out, "b") == (Outcome.MISSING, "no sheet of the piece arrived")
    assert out.results["b"].sheets_read == 0


def test_sheet_of_another_job_is_outsorted():
    """A sheet from another job is outsorted naming both jobs."""
    out = collate(["J9|a|1/1", f"{JOB}|a|1/1"], records(a=1), JOB, 6)
    assert "belongs to job J9, not J1" in out.outsorted[0].reason
    assert outcome(out, "a")[0] is Outcome.INSERTED


def test_jam_damages_the_pieces_in_the_track():
    """A jam at envelope 2 damages envelope 2 and the one fed behind it; the others are inserted."""
    out = collate(
        codes("a|1/1", "b|1/1", "c|1/1", "d|1/1"),
        records(a=1, b=1, c=1, d=1),
        JOB,
        6,
        Faults(jam_at={2}, track_depth=2),
    )
    assert [r.outcome for r in out.results.values()] == [
        Outcome.INSERTED,
        Outcome.DAMAGED,
        Outcome.DAMAGED,
        Outcome.INSERTED,
    ]
    assert out.results["c"].reason == "damaged in a jam at envelope 2"


def test_operator_removal_is_removed():
    """A piece the operator pulls is REMOVED."""
    out = collate(codes("a|1/1", "b|1/1"), records(a=1, b=1), JOB, 6, Faults(remove_pieces={"b"}))
    assert outcome(out, "b") == (Outcome.REMOVED, "removed by the operator")


def test_random_faults_repeat_for_the_same_seed_and_run():
    """Seeded faults are deterministic: the same seed and run id give the same outcomes."""
    stack, recs = codes(*(f"{i}|1/1" for i in range(200))), records(**{str(i): 1 for i in range(200)})
    faults = Faults(jam_rate=0.05, remove_rate=0.05, seed=7)
    first = collate(stack, recs, JOB, 6, faults, run_id="R1").results
    again = collate(stack, recs, JOB, 6, faults, run_id="R1").results
    assert first == again
    assert {r.outcome for r in first.values()} >= {Outcome.INSERTED, Outcome.DAMAGED, Outcome.REMOVED}


@pytest.mark.parametrize(
    "stack",
    [
        ["a|1/2", "a|2/2", "b|1/1"],
        ["a|2/2", "a|1/2", "b|1/1"],
        ["b|1/1", None, "a|1/2"],
        [],
        ["a|1/2", "a|1/2"],
        ["a|1/2", "b|1/1", "a|2/2", "a|1/2", "a|2/2"],
        [None, None],
        ["a|3/2", "x|1/1", "b|1/1", "b|1/1"],
    ],
)
@pytest.mark.parametrize(
    "faults", [Faults(), Faults(jam_at={1}), Faults(remove_at={2}, jam_rate=0.5, seed=3)]
)
def test_every_record_gets_exactly_one_result(stack, faults):
    """Whatever the stack holds and whatever goes wrong, each record has exactly one result."""
    out = collate(codes(*stack), records(a=2, b=1), JOB, 6, faults)
    assert list(out.results) == ["a", "b"]
    assert all(r.piece_id == p for p, r in out.results.items())


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.tuples(st.sampled_from("abcx"), st.integers(1, 4), st.integers(1, 3))),
        max_size=14,
    ),
    st.integers(0, 5),
    st.integers(1, 3),
)
def test_any_stack_accounts_for_every_record_once(stack, jam_at, max_sheets):
    """Property: for any stack (random pieces, sheet numbers, unreadable sheets, a jam), every record gets
    exactly one result, and every sheet read is counted once across results and outsorts."""
    texts = [None if s is None else f"{s[0]}|{s[1]}/{s[2]}" for s in stack]
    out = collate(codes(*texts), records(a=2, b=1, c=3), JOB, max_sheets, Faults(jam_at={jam_at}))
    assert list(out.results) == ["a", "b", "c"]
    counted = sum(r.sheets_read for r in out.results.values()) + sum(o.sheets_read for o in out.outsorted)
    assert counted == sum(1 for s in stack if s is not None)


def test_code_that_is_not_a_control_code_counts_as_unreadable():
    """A readable symbol that does not parse as job|piece|sheet i/n is treated like an unreadable one."""
    out = collate([f"{JOB}|a|1/2", "hello", f"{JOB}|a|2/2"], records(a=2), JOB, 6)
    assert outcome(out, "a") == (Outcome.DIVERTED, "unreadable control code on sheet 2 of the stack")
