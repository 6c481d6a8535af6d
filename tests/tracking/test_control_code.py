"""The three-field control code ``job|piece|i/n``: what formatting refuses and what parsing accepts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracking import ControlCode, ControlCodeError, format_control, parse_control

FIELD = st.text(
    st.characters(blacklist_characters="|", blacklist_categories=("Cs",)), min_size=1, max_size=20
)


def test_brief_example_formats_exactly():
    """The worked example from the brief is formatted character for character."""
    assert format_control("J000012", "4711", 2, 3) == "J000012|4711|2/3"


@given(FIELD, FIELD, st.integers(1, 999), st.integers(0, 999))
def test_format_then_parse_round_trips(job, piece, sheet, extra):
    """Property: any valid fields survive format → parse unchanged."""
    code = parse_control(format_control(job, piece, sheet, sheet + extra))
    assert code == ControlCode(job, piece, sheet, sheet + extra)


@pytest.mark.parametrize(
    ("job", "piece", "sheet", "of"),
    [
        ("", "4711", 1, 1),  # empty job
        ("J1", "", 1, 1),  # empty piece
        ("J|1", "4711", 1, 1),  # separator in job
        ("J1", "47|11", 1, 1),  # separator in piece
        ("J1", "4711", 0, 1),  # sheet below 1
        ("J1", "4711", 3, 2),  # sheet beyond the piece: only a reader may see that
        ("J1", "4711", True, 1),  # a bool is not a sheet number
    ],
)
def test_format_refuses_bad_fields(job, piece, sheet, of):
    """Formatting is strict: empty fields, the separator inside a field and a sheet outside 1..of are
    refused."""
    with pytest.raises(ControlCodeError):
        format_control(job, piece, sheet, of)


def test_parse_accepts_a_sheet_beyond_the_count_and_flags_it():
    """A misprinted stack (sheet 4 of 3) still reads, so the inserter can divert it."""
    code = parse_control("J000012|4711|4/3")
    assert code.is_overrun and not code.is_last


def test_last_sheet_is_marked_last():
    """Sheet n of n is where the inserter closes the set."""
    assert parse_control("J000012|4711|3/3").is_last


@pytest.mark.parametrize(
    "text",
    [
        "",
        "J1|4711",
        "J1|4711|1/1|x",
        "|4711|1/1",
        "J1||1/1",
        "J1|4711|1-1",
        "J1|4711|0/1",
        "J1|4711|1/0",
        "J1|4711|+1/2",
        "J1|4711|１/2",
    ],
)
def test_parse_refuses_malformed_text(text):
    """Wrong field counts, empty ids, a sheet field that is not i/n with ASCII digits, or zeros are
    refused."""
    with pytest.raises(ControlCodeError) as info:
        parse_control(text)
    assert info.value.text == text


def test_error_message_names_the_problem():
    """The message says which rule the text broke, not just that it is invalid."""
    with pytest.raises(ControlCodeError, match="must read i/n"):
        parse_control("J1|4711|1-1")
