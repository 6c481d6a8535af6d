"""Tracking identifiers: UPU S10 (international) and the Russian Post 14-digit domestic form.

Pure string maths: check digits, construction from a configured range, and validation whose error
says exactly which part of an id is wrong, so an operator can tell a typo from a bad range.
Allocation (durable, never reused within 12 months) lives elsewhere; this module only does the maths.
"""

from __future__ import annotations

import enum
import re

from tracking.errors import InvalidIdentifier, InvalidIdentifierPart

#: Length of a UPU S10 identifier: 2 service letters, 8 serial digits, 1 check digit, 2 country letters.
S10_LENGTH = 13
#: Pattern a well-formed S10 identifier matches (before the check digit and service letters are checked).
S10_PATTERN = re.compile(r"^[A-Z]{2}\d{9}[A-Z]{2}$")
#: Weights applied to the 8 serial digits of an S10 identifier (UPU S10, in order).
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
#: First letters of a service indicator the UPU never assigns.
S10_UNASSIGNED_FIRST_LETTERS = frozenset("JKSTW")
#: Largest serial an S10 identifier holds (8 digits).
S10_MAX_SERIAL = 99_999_999

#: Length of a Russian Post domestic identifier: postcode 6, month code 2, serial 5, check 1.
RU14_LENGTH = 14
#: Largest serial a Russian 14-digit identifier holds (5 digits).
RU14_MAX_SERIAL = 99_999

_CAPITALS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")


class IdentifierKind(enum.Enum):
    """Which identifier scheme a tracking id belongs to."""

    S10 = "s10"
    RU14 = "ru14"


def _is_capitals(text: str) -> bool:
    return bool(text) and all(c in _CAPITALS for c in text)


def _is_digits(text: str) -> bool:
    # str.isdigit() accepts superscripts and other scripts' digits; ids take ASCII 0-9 only.
    return bool(text) and all(c in _DIGITS for c in text)


def s10_check_digit(serial8: str) -> int:
    """Return the UPU S10 check digit of an 8-digit serial (weights 8,6,4,2,3,5,9,7; 10→0, 11→5)."""
    if len(serial8) != 8 or not _is_digits(serial8):
        raise InvalidIdentifierPart("serial", serial8, "must be exactly 8 digits 0-9")
    total = sum(int(d) * w for d, w in zip(serial8, S10_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def _service_problem(service: str) -> str | None:
    """Say what is wrong with a service indicator (the predicate of a sentence), or None."""
    if len(service) != 2 or not _is_capitals(service):
        return "must be two capital letters A-Z"
    if service[0] in S10_UNASSIGNED_FIRST_LETTERS:
        return f"starts with {service[0]}, a letter the UPU never assigns (J, K, S, T, W)"
    return None


def _country_problem(country: str) -> str | None:
    """Say what is wrong with a country code (the predicate of a sentence), or None."""
    if len(country) != 2 or not _is_capitals(country):
        return "must be two capital letters A-Z (ISO 3166-1 alpha-2)"
    return None


def make_s10(service: str, serial: int, country: str) -> str:
    """Build an S10 identifier such as ``RR473124829DE`` from its service indicator, serial number and
    country."""
    if problem := _service_problem(service):
        raise InvalidIdentifierPart("service indicator", service, problem)
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial <= S10_MAX_SERIAL:
        raise InvalidIdentifierPart("serial", serial, f"must be an integer from 0 to {S10_MAX_SERIAL}")
    if problem := _country_problem(country):
        raise InvalidIdentifierPart("country code", country, problem)
    serial8 = f"{serial:08d}"
    return f"{service}{serial8}{s10_check_digit(serial8)}{country}"


def _s10_problem(text: str) -> str | None:
    if len(text) != S10_LENGTH:
        return f"length is {len(text)}, expected {S10_LENGTH} characters"
    if problem := _service_problem(text[:2]):
        return f"service indicator {text[:2]!r} {problem}"
    if not _is_digits(text[2:10]):
        return f"serial {text[2:10]!r} must be 8 digits 0-9"
    if not _is_digits(text[10]):
        return f"check digit {text[10]!r} must be a digit 0-9"
    if problem := _country_problem(text[11:]):
        return f"country code {text[11:]!r} {problem}"
    expected = s10_check_digit(text[2:10])
    if int(text[10]) != expected:
        return f"check digit is {text[10]}, expected {expected}"
    return None


def validate_s10(text: str) -> None:
    """Raise :class:`InvalidIdentifier` naming the first wrong part unless ``text`` is a valid S10
    identifier."""
    if not isinstance(text, str):
        raise InvalidIdentifier(text, f"must be text, not {type(text).__name__}")
    if problem := _s10_problem(text):
        raise InvalidIdentifier(text, problem)


def is_valid_s10(text: str) -> bool:
    """Tell whether ``text`` is a valid S10 identifier (shape, service indicator and check digit)."""
    return isinstance(text, str) and _s10_problem(text) is None


def ru14_check_digit(first13: str) -> int:
    """Return the check digit of a Russian 14-digit id from its first 13 digits.

    ``s = 3·(d1+d3+…+d13) + (d2+d4+…+d12)``, check ``(10 − s mod 10) mod 10`` (1-based positions); the
    final ``mod 10`` matters: without it ids whose check digit is 0 are wrongly rejected.
    """
    if len(first13) != RU14_LENGTH - 1 or not _is_digits(first13):
        raise InvalidIdentifierPart("first 13 digits", first13, "must be exactly 13 digits 0-9")
    digits = [int(d) for d in first13]
    s = 3 * sum(digits[0::2]) + sum(digits[1::2])
    return (10 - s % 10) % 10


def make_ru14(office_postcode: str, month_code: str, serial: int) -> str:
    """Build a Russian 14-digit id from the accepting office's postcode, the range's month code and a serial.

    The month code's meaning is unconfirmed; it is treated as an opaque two-digit part of the configured
    range.
    """
    if len(office_postcode) != 6 or not _is_digits(office_postcode):
        raise InvalidIdentifierPart("office postcode", office_postcode, "must be exactly 6 digits 0-9")
    if len(month_code) != 2 or not _is_digits(month_code):
        raise InvalidIdentifierPart("month code", month_code, "must be exactly 2 digits 0-9")
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial <= RU14_MAX_SERIAL:
        raise InvalidIdentifierPart("serial", serial, f"must be an integer from 0 to {RU14_MAX_SERIAL}")
    first13 = f"{office_postcode}{month_code}{serial:05d}"
    return f"{first13}{ru14_check_digit(first13)}"


def _ru14_problem(text: str) -> str | None:
    if len(text) != RU14_LENGTH:
        return f"length is {len(text)}, expected {RU14_LENGTH} digits"
    if not _is_digits(text):
        bad = next(i for i, c in enumerate(text) if c not in _DIGITS)
        return f"character {text[bad]!r} at position {bad + 1} is not a digit 0-9"
    expected = ru14_check_digit(text[:13])
    if int(text[13]) != expected:
        return f"check digit is {text[13]}, expected {expected}"
    return None


def validate_ru14(text: str) -> None:
    """Raise :class:`InvalidIdentifier` naming what is wrong unless ``text`` is a valid Russian 14-digit
    id."""
    if not isinstance(text, str):
        raise InvalidIdentifier(text, f"must be text, not {type(text).__name__}")
    if problem := _ru14_problem(text):
        raise InvalidIdentifier(text, problem)


def is_valid_ru14(text: str) -> bool:
    """Tell whether ``text`` is a valid Russian 14-digit id (digits and check digit)."""
    return isinstance(text, str) and _ru14_problem(text) is None


def validate(text: str) -> IdentifierKind:
    """Validate ``text`` as either identifier kind and return which one it is.

    A 13-character text is judged as S10 and a 14-character one as the Russian form, so the error names
    the problem of the kind the text was evidently meant to be.
    """
    if not isinstance(text, str):
        raise InvalidIdentifier(text, f"must be text, not {type(text).__name__}")
    if len(text) == S10_LENGTH:
        validate_s10(text)
        return IdentifierKind.S10
    if len(text) == RU14_LENGTH:
        validate_ru14(text)
        return IdentifierKind.RU14
    raise InvalidIdentifier(
        text,
        f"length is {len(text)}, expected {S10_LENGTH} (UPU S10) or {RU14_LENGTH} (Russian domestic) "
        "characters",
    )
