"""Identifier maths: S10 and the Russian 14-digit form, property-tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracking.ids import (
    IdentifierKind,
    InvalidIdentifier,
    make_ru14,
    make_s10,
    ru14_check_digit,
    s10_check_digit,
    validate,
    validate_ru14,
    validate_s10,
)

SERVICES = st.sampled_from(["RR", "RA", "LX", "EE", "CP", "VV", "UA"])
COUNTRIES = st.sampled_from(["DE", "RU", "FR", "ZZ", "GB"])


def test_worked_example():
    """REFERENCE.md: serial 47312482 gives S = 200, so C = 9."""
    assert s10_check_digit("47312482") == 9
    assert make_s10("RR", 47312482, "DE") == "RR473124829DE"


@given(SERVICES, st.integers(0, 99_999_999), COUNTRIES)
def test_s10_round_trip(service, serial, country):
    """Every made S10 id validates and is recognised as S10."""
    identifier = make_s10(service, serial, country)
    validate_s10(identifier)
    assert validate(identifier) is IdentifierKind.S10


def _s10_sum_class(serial8: str) -> int:
    return sum(int(d) * w for d, w in zip(serial8, (8, 6, 4, 2, 3, 5, 9, 7), strict=True)) % 11


@given(SERVICES, st.integers(0, 99_999_999), COUNTRIES, st.integers(2, 10), st.integers(1, 9))
def test_s10_catches_single_digit_errors_but_the_one_blind_spot(service, serial, country, position, shift):
    """Any one changed digit is rejected as a check-digit error, except where the UPU algorithm itself is
    blind.

    C = 11 − (S mod 11) maps 11 to 5, so S ≡ 0 and S ≡ 6 (mod 11) share check digit 5: a substitution moving S
    between those two classes cannot be seen by any correct S10 implementation. Everything else is caught.
    """
    identifier = make_s10(service, serial, country)
    mutated = (
        identifier[:position] + str((int(identifier[position]) + shift) % 10) + identifier[position + 1 :]
    )
    blind = position < 10 and {_s10_sum_class(identifier[2:10]), _s10_sum_class(mutated[2:10])} == {0, 6}
    if blind:
        validate_s10(mutated)  # accepted: the documented blind spot of the standard's check digit
        return
    with pytest.raises(InvalidIdentifier) as info:
        validate_s10(mutated)
    assert "check digit" in str(info.value)


@given(st.from_regex(r"\A[0-9]{6}\Z"), st.from_regex(r"\A[0-9]{2}\Z"), st.integers(0, 99_999))
def test_ru14_round_trip(office, month, serial):
    """Every made 14-digit id validates and is recognised as ru14."""
    identifier = make_ru14(office, month, serial)
    validate_ru14(identifier)
    assert validate(identifier) is IdentifierKind.RU14


@given(st.from_regex(r"\A[0-9]{13}\Z"), st.integers(0, 13), st.integers(1, 9))
def test_ru14_catches_every_single_digit_error(first13, position, shift):
    """Changing any one digit of a 14-digit id makes it invalid."""
    identifier = first13 + str(ru14_check_digit(first13))
    mutated = (
        identifier[:position] + str((int(identifier[position]) + shift) % 10) + identifier[position + 1 :]
    )
    with pytest.raises(InvalidIdentifier):
        validate_ru14(mutated)


def test_ru14_check_digit_zero_is_accepted():
    """A number whose check digit is 0 is valid (implementations without the final mod 10 reject it)."""
    first13 = next(f"{n:013d}" for n in range(1000) if ru14_check_digit(f"{n:013d}") == 0)
    validate_ru14(first13 + "0")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("RR47312482DE", "13"),
        ("JR473124829DE", "J"),
        ("RR4731248X9DE", "digit"),
        ("RR473124828DE", "check digit"),
        ("RR473124829D1", "country"),
    ],
)
def test_s10_reasons_name_the_part(text, fragment):
    """Each kind of fault is named in the reason."""
    with pytest.raises(InvalidIdentifier) as info:
        validate_s10(text)
    assert fragment in str(info.value)
