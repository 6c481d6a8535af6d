"""The control code's selects and flags fields, as imposition writes them and the inserter reads them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracking import ControlCodeError, format_control, parse_control

selects = st.sets(st.integers(1, 9)).map(lambda s: "".join(str(d) for d in sorted(s)))
flags = st.sets(st.sampled_from("ABCDRZ")).map(lambda s: "".join(sorted(s)))


@given(st.integers(1, 50), st.integers(0, 50), selects, flags)
def test_five_field_codes_read_back_to_their_fields(sheet, extra, chosen, flagged):
    """Property: format then parse gives back sheet i/n, selects and flags."""
    code = parse_control(format_control("J1", "P7", sheet, sheet + extra, chosen, flagged))
    assert (code.sheet, code.of, code.selects, code.flags) == (sheet, sheet + extra, chosen, flagged)


def test_three_field_form_is_unchanged_for_existing_readers():
    """Without selects and flags the code is the old job|piece|i/n and reads back equal to it."""
    assert format_control("J1", "P7", 1, 2) == "J1|P7|1/2"
    assert parse_control("J1|P7|1/2") == parse_control("J1|P7|1/2||")


@pytest.mark.parametrize(("chosen", "flagged"), [("31", ""), ("0", ""), ("11", ""), ("", "d"), ("", "RD")])
def test_unordered_or_foreign_selects_and_flags_are_refused(chosen, flagged):
    """Selects are ascending digits 1–9 once each; flags capital letters once each in order."""
    with pytest.raises(ControlCodeError):
        format_control("J1", "P7", 1, 1, chosen, flagged)


def test_reverse_and_divert_flags_are_named():
    """Flag R marks a back side, D a piece to divert."""
    code = parse_control("J1|P7|1/1||DR")
    assert code.reverse and code.divert
