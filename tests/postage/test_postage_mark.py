"""The plant's postage mark: signed payload round trips, every alteration is caught, forged and foreign marks
are refused, and the text stays inside QR's alphanumeric set."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.postage import (
    MARK_PREFIX,
    InvalidMarkField,
    MarkPayload,
    MarkSignatureInvalid,
    MarkUnreadable,
    PostageError,
    decode_and_verify,
    encode_mark,
    key_id,
    load_private_key,
    load_public_key,
    new_signing_key,
    private_key_pem,
    public_key_pem,
    read_unverified,
)

KEY = new_signing_key()
OTHER_KEY = new_signing_key()
PAYLOAD = MarkPayload(
    piece_id="4711",
    tracking_id="RR473124829DE",
    office="101000",
    mail_class="standard",
    mass_g=14.9,
    band_g=20,
    tariff_minor=2950,
    currency="RUB",
    issued_at=1_750_000_000,
)

FIELD = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=16)
PAYLOADS = st.builds(
    MarkPayload,
    piece_id=FIELD,
    tracking_id=FIELD,
    office=FIELD,
    mail_class=FIELD,
    mass_g=st.integers(0, 10_000_000).map(lambda dg: dg / 10),
    band_g=st.integers(0, 2**32 - 1),
    tariff_minor=st.integers(0, 2**32 - 1),
    currency=st.sampled_from(["RUB", "EUR", "XXX"]),
    issued_at=st.integers(0, 2**32 - 1),
)


@settings(max_examples=150, deadline=None)
@given(PAYLOADS)
def test_encode_then_verify_returns_the_payload(payload):
    """Any payload encoded and signed decodes, verified, to an equal payload."""
    assert decode_and_verify(encode_mark(payload, KEY), KEY.public_key()) == payload


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_changed_character_is_refused(data):
    """Changing any one character of the body makes the mark unreadable or its signature invalid, never
    valid."""
    text = encode_mark(PAYLOAD, KEY)
    index = data.draw(st.integers(len(MARK_PREFIX), len(text) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").filter(lambda c: c != text[index])
    )
    forged = text[:index] + replacement + text[index + 1 :]
    with pytest.raises(PostageError):
        decode_and_verify(forged, KEY.public_key())


def test_text_uses_only_qr_alphanumeric_characters():
    """The mark text fits QR's alphanumeric mode (0-9, A-Z, a few symbols), so the QR stays small."""
    assert re.fullmatch(r"[0-9A-Z $%*+\-./:]+", encode_mark(PAYLOAD, KEY))


def test_text_starts_with_the_versioned_prefix():
    """Version-1 marks start with PM1: so a reader can tell the version before decoding."""
    assert encode_mark(PAYLOAD, KEY).startswith("PM1:")


def test_mark_signed_by_another_key_is_refused():
    """A mark made with a key the verifier does not trust fails with MarkSignatureInvalid naming that key."""
    with pytest.raises(MarkSignatureInvalid, match=key_id(OTHER_KEY.public_key())):
        decode_and_verify(encode_mark(PAYLOAD, OTHER_KEY), KEY.public_key())


def test_forged_signature_under_a_known_key_id_is_refused():
    """A payload re-signed by a forger who copied the real key id is refused: the signature does not match."""
    genuine = base64.b32decode(_padded(encode_mark(PAYLOAD, KEY)[4:]))
    altered_body = genuine[:-64].replace(b"RR473124829DE", b"RR000000000DE")
    forged = MARK_PREFIX + base64.b32encode(altered_body + OTHER_KEY.sign(altered_body)).decode().rstrip("=")
    with pytest.raises(MarkSignatureInvalid, match="does not match"):
        decode_and_verify(forged, KEY.public_key())


def test_verifier_picks_the_key_by_id_among_several():
    """With several trusted keys (rotation), the mark verifies against the one named by its key id."""
    keys = {key_id(k.public_key()): k.public_key() for k in (KEY, OTHER_KEY)}
    assert decode_and_verify(encode_mark(PAYLOAD, OTHER_KEY), keys) == PAYLOAD


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("RR473124829DE", "does not start with 'PM1:'"),
        ("PM2:ABCDEFGH", "version 2 is not supported"),
        ("PM1:not base32!", "not base32"),
        ("PM1:ABCDEFGH", "too short"),
    ],
)
def test_non_marks_are_unreadable_with_a_reason(text, reason):
    """Text that is not a version-1 mark raises MarkUnreadable saying why."""
    with pytest.raises(MarkUnreadable, match=reason):
        decode_and_verify(text, KEY.public_key())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "rub"}, "currency"),
        ({"tracking_id": ""}, "tracking_id"),
        ({"office": "x" * 65}, "office"),
        ({"tariff_minor": -1}, "tariff_minor"),
        ({"mass_g": float("nan")}, "mass_g"),
    ],
)
def test_fields_that_cannot_be_carried_are_refused(change, field):
    """A payload field out of the format's range raises InvalidMarkField naming the field."""
    values = {**{f: getattr(PAYLOAD, f) for f in PAYLOAD.__slots__}, **change}
    with pytest.raises(InvalidMarkField) as error:
        encode_mark(MarkPayload(**values), KEY)
    assert error.value.field == field


def test_unverified_read_is_for_display_only_but_parses():
    """read_unverified parses a mark without a key (for display), returning its payload."""
    assert read_unverified(encode_mark(PAYLOAD, OTHER_KEY)) == PAYLOAD


def test_keys_round_trip_through_pem():
    """The private and public keys survive PEM, and the reloaded public key verifies the original's marks."""
    private = load_private_key(private_key_pem(KEY))
    public = load_public_key(public_key_pem(KEY.public_key()))
    assert decode_and_verify(encode_mark(PAYLOAD, private), public) == PAYLOAD


def test_a_non_key_pem_is_a_postage_error():
    """Loading garbage as a key raises a PostageError that says how to make a key."""
    with pytest.raises(PostageError, match="plant postage keygen"):
        load_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_issue_date_is_utc():
    """The mark's date is its issue time in UTC."""
    assert PAYLOAD.issued.isoformat() == "2025-06-15T15:06:40+00:00"


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 8)


def test_mark_text_is_canonical():
    """A text whose last base32 character differs only in unused bits is refused: one mark has one text."""
    text = encode_mark(PAYLOAD, KEY)
    unused = (len(text) - len(MARK_PREFIX)) * 5 % 8
    assert unused, "this payload's length leaves no unused bits; the test needs one that does"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    variant = text[:-1] + alphabet[alphabet.index(text[-1]) ^ 1]
    with pytest.raises(MarkUnreadable, match="canonical"):
        decode_and_verify(variant, KEY.public_key())
