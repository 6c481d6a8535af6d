"""The QA verdict as a pure function: a table of samples (codes as read) against what the ledger knows, each
with the one reason it must give (or none)."""

from __future__ import annotations

import pytest

from plant.qa.judge import FoundCode, LedgerFacts, MarkFacts, PieceFacts, Verdict, judge, wanted_ids
from tracking.postage import MarkPayload, encode_mark, key_id, new_signing_key
from tracking.scan import Grade

KEY, OTHER_KEY = new_signing_key(), new_signing_key()
KEYS = {key_id(KEY.public_key()): KEY.public_key(), key_id(OTHER_KEY.public_key()): OTHER_KEY.public_key()}
A = PieceFacts(7, "RR100000017ZZ", "J000002", 2, 70, "L000007", "S-1", "INSERTED")
B = PieceFacts(8, "RR100000025ZZ", "J000002", 1, 80, "L000008", "S-1", "INSERTED")


def mark(piece: PieceFacts, key=KEY) -> str:
    return encode_mark(
        MarkPayload(
            str(piece.piece_id), piece.tracking_id, "101000", "standard", 15.0, 20, 2950, "RUB", 1_700_000_000
        ),
        key,
    )


FACTS = LedgerFacts(
    by_tracking={A.tracking_id: A, B.tracking_id: B},
    by_piece={7: A, 8: B},
    marks={
        str(p.piece_id): MarkFacts(str(p.piece_id), p.tracking_id, key_id(KEY.public_key()), "on_hold")
        for p in (A, B)
    },
)


def codes(
    tracking=(A.tracking_id,), control=("J000002|7|1/2",), postage=None, grade=Grade.B
) -> list[FoundCode]:
    found = [FoundCode("tracking", "Code128", text) for text in tracking]
    found += [FoundCode("control", "DataMatrix", text, grade) for text in control]
    found += [
        FoundCode("postage", "QRCode", text) for text in (postage if postage is not None else (mark(A),))
    ]
    return found


CASES = {
    "consistent": (codes(), FACTS, None),
    "unknown tracking id": (
        codes(tracking=("RR999999995ZZ",)),
        FACTS,
        (
            "tracking id RR999999995ZZ belongs to no piece in the ledger",
            "postage mark names tracking id RR100000017ZZ, the window shows RR999999995ZZ",
        ),
    ),
    "two tracking ids": (
        codes(tracking=(A.tracking_id, B.tracking_id)),
        FACTS,
        f"2 different tracking ids read in the window: {A.tracking_id}, {B.tracking_id}",
    ),
    "sheet of an earlier print": (
        codes(control=("J000001|7|1/2",)),
        FACTS,
        "control code J000001|7|1/2 names job J000001, but piece 7 is in job J000002: a "
        "sheet of an earlier print",
    ),
    "wrong sheet count": (
        codes(control=("J000002|7|1/3",)),
        FACTS,
        "control code J000002|7|1/3 says 3 sheet(s), but piece 7 has 2",
    ),
    "control code not the plant's": (codes(control=("hello",)), FACTS, "control code 'hello' cannot be read"),
    "control code of a piece not in the ledger": (
        codes(control=("J000002|99|1/1",)),
        FACTS,
        "control code J000002|99|1/1 names piece 99, which is not in the ledger",
    ),
    "mark never issued": (
        codes(),
        LedgerFacts(FACTS.by_tracking, FACTS.by_piece, {}),
        "the ledger holds no postage mark issued for piece 7",
    ),
    "mark signed with another trusted key than issued": (
        codes(postage=(mark(A, OTHER_KEY),)),
        FACTS,
        f"postage mark of piece 7 was signed with key {key_id(OTHER_KEY.public_key())} for "
        f"{A.tracking_id}; the ledger issued it with key {key_id(KEY.public_key())} for {A.tracking_id}",
    ),
    "mark by an unknown key": (
        codes(postage=(mark(A, new_signing_key()),)),
        FACTS,
        "postage mark fails verification: no configured public key has id",
    ),
    "no mark": (codes(postage=()), FACTS, "no postage mark read"),
    "low grade": (
        codes(grade=Grade.D),
        FACTS,
        "control DataMatrix 'J000002|7|1/2' grades D, below the minimum C",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_each_fault_gives_its_reasons(name):
    """Every fault gives exactly its reasons (one, or each check it breaks); the consistent sample passes."""
    found, facts, expected = CASES[name]
    result = judge(found, facts, KEYS, Grade.C)
    if expected is None:
        assert (result.verdict, result.reasons) == (Verdict.PASS, ())
        return
    expected = (expected,) if isinstance(expected, str) else expected
    assert result.verdict == Verdict.FAIL
    assert len(result.reasons) == len(expected), result.reasons
    assert all(r.startswith(e) for r, e in zip(result.reasons, expected, strict=True)), result.reasons


def test_without_a_readable_window_the_control_code_names_the_piece():
    """No tracking id read: the sample is still put on the piece its control code names."""
    result = judge(codes(tracking=()), FACTS, KEYS, Grade.C)
    assert (result.piece, result.reasons, result.tracking_id) == (
        A,
        ("no tracking id read in the window",),
        None,
    )


def test_the_grade_is_the_lowest_of_the_graded_codes():
    """Codes that are not graded (Code 128, QR) do not count; the grade is the lowest DataMatrix grade, a
    postage mark printed as a DataMatrix included."""
    found = codes(grade=Grade.A, postage=()) + [FoundCode("postage", "DataMatrix", mark(A), Grade.C)]
    result = judge(found, FACTS, KEYS, Grade.C)
    assert (result.grade, result.verdict) == (Grade.C, Verdict.PASS)
    assert judge(codes(grade=Grade.A), FACTS, KEYS, Grade.C).grade == Grade.A
    assert judge(codes(tracking=(), control=(), postage=()), FACTS, KEYS, Grade.C).grade is None


def test_wanted_ids_are_every_id_the_codes_mention():
    """The ledger is asked for the window's tracking id, the control code's piece and the mark's piece and
    id."""
    found = codes(tracking=("RR100000017ZZ",), control=("J000002|8|1/1",), postage=(mark(B),))
    assert wanted_ids(found) == ({"RR100000017ZZ", B.tracking_id}, {8})
