"""The plant's own postage mark: a versioned, Ed25519-signed payload carried as QR text, and the mass/tariff
maths.

This is **the plant's own format**, documented in ``docs/postage.md``; it is not, and must never be presented
as, any postal operator's mark (Russian Post's online-postage layout is not public). Layout of version 1, all
integers big-endian::

    magic "PM" | version u8 = 1 | key id 4 bytes | issued_at u32 (Unix seconds, UTC)
    | mass u32 (tenths of a gram) | band upper bound u32 (grams) | tariff u32 (minor units) | currency 3 ASCII
    | office, mail class, piece id, tracking id: each u8 length + UTF-8 bytes
    | Ed25519 signature (64 bytes) over everything before it

The text in the QR is ``PM1:`` followed by RFC 4648 base32 of those bytes without padding: base32's alphabet
is inside QR's alphanumeric set, so the symbol is encoded at 5.5 bits per character instead of 8 and the mark
stays small. Everything here takes and returns plain values; keys are ``cryptography`` Ed25519 objects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tracking.errors import TrackingError

#: Text every version-1 mark starts with: ``PM`` (plant mark), the version, a colon.
MARK_PREFIX = "PM1:"
#: Magic bytes at the start of the binary payload.
MARK_MAGIC = b"PM"
#: Version of the payload layout written by :func:`encode_mark`.
MARK_VERSION = 1
#: Length of an Ed25519 signature in bytes.
SIGNATURE_LENGTH = 64
#: Bytes of SHA-256 of the raw public key that name the signing key inside a mark.
KEY_ID_LENGTH = 4
#: Longest office, mail class, piece id or tracking id a mark holds (UTF-8 bytes, length in one byte).
MAX_FIELD_BYTES = 64
#: Hours after issue within which a prepaid piece must be handed in; later its mark is annulled.
HAND_IN_HOURS = 72

_FIXED = struct.Struct(
    ">2sB4sIIIIx3s"
)  # x: one reserved zero byte keeps the currency aligned and future flags free
_FIXED_SIZE = _FIXED.size


class PostageError(TrackingError):
    """Base of the postage-mark errors of the tracking library."""


class MarkUnreadable(PostageError):
    """A text is not a plant postage mark this library can read; ``reason`` says what is wrong."""

    def __init__(self, text: object, reason: str) -> None:
        self.text = text
        self.reason = reason
        shown = text if not isinstance(text, str) or len(text) <= 40 else text[:37] + "..."
        super().__init__(
            f"Postage mark {shown!r} cannot be read: {reason}. Scan the mark again or refuse the item."
        )


class MarkSignatureInvalid(PostageError):
    """A mark's signature does not verify: it was altered, forged, or signed by a key not configured here."""

    def __init__(self, key_id: str, reason: str) -> None:
        self.key_id = key_id
        self.reason = reason
        super().__init__(
            f"Postage mark signed with key {key_id} failed verification: {reason}. "
            "Refuse the item; if the plant rotated its key, configure the new public key."
        )


class MassAboveTopBand(PostageError):
    """A piece weighs more than the heaviest configured tariff band; it cannot be franked."""

    def __init__(self, mass_g: float, top_g: float, mail_class: str) -> None:
        self.mass_g = mass_g
        self.top_g = top_g
        self.mail_class = mail_class
        super().__init__(
            f"A {mail_class} piece of {mass_g:g} g is above the top tariff band ({top_g:g} g); "
            "split the letter, send it as a parcel, or add a heavier band to the tariff table."
        )


class InvalidMarkField(PostageError):
    """A payload field cannot be put into a mark (too long, out of range, wrong currency code)."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"Cannot make a postage mark: {field} {value!r} {reason}.")


@dataclass(frozen=True, slots=True)
class WeightBand:
    """One row of a tariff table: pieces up to ``up_to_g`` grams (inclusive) cost ``tariff_minor`` minor
    units."""

    up_to_g: int
    tariff_minor: int


@dataclass(frozen=True, slots=True)
class MarkPayload:
    """What a postage mark says about one piece. Masses in grams, money in the currency's minor units."""

    piece_id: str
    tracking_id: str
    office: str
    mail_class: str
    mass_g: float
    band_g: int
    tariff_minor: int
    currency: str
    issued_at: int

    @property
    def issued(self) -> datetime:
        """The issue time as an aware UTC datetime (the mark's date)."""
        return datetime.fromtimestamp(self.issued_at, UTC)


@dataclass(frozen=True, slots=True)
class VerifiedMark:
    """A mark whose signature verified: its payload and the id of the key that signed it."""

    payload: MarkPayload
    key_id: str


def key_id(public_key: Ed25519PublicKey) -> str:
    """The short id (8 hex digits) naming ``public_key`` inside marks: the first bytes of SHA-256 of the raw
    key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:KEY_ID_LENGTH].hex()


def _field_bytes(name: str, value: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise InvalidMarkField(name, value, "must be non-empty text")
    data = value.encode("utf-8")
    if len(data) > MAX_FIELD_BYTES:
        raise InvalidMarkField(name, value, f"is {len(data)} bytes long; at most {MAX_FIELD_BYTES} fit")
    return bytes([len(data)]) + data


def _u32(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF_FFFF:
        raise InvalidMarkField(name, value, "must be a whole number from 0 to 4294967295")
    return value


def payload_bytes(payload: MarkPayload, signer_key_id: str) -> bytes:
    """The signed part of a version-1 mark (everything but the signature)."""
    if not (
        len(payload.currency) == 3
        and payload.currency.isascii()
        and payload.currency.isalpha()
        and payload.currency.isupper()
    ):
        raise InvalidMarkField(
            "currency", payload.currency, "must be an ISO 4217 code of three capital letters"
        )
    if not (
        isinstance(payload.mass_g, (int, float)) and math.isfinite(payload.mass_g) and payload.mass_g >= 0
    ):
        raise InvalidMarkField("mass_g", payload.mass_g, "must be a finite mass of 0 g or more")
    fixed = _FIXED.pack(
        MARK_MAGIC,
        MARK_VERSION,
        bytes.fromhex(signer_key_id),
        _u32("issued_at", payload.issued_at),
        _u32("mass", round(payload.mass_g * 10)),
        _u32("band_g", payload.band_g),
        _u32("tariff_minor", payload.tariff_minor),
        payload.currency.encode("ascii"),
    )
    return fixed + b"".join(
        _field_bytes(n, getattr(payload, n)) for n in ("office", "mail_class", "piece_id", "tracking_id")
    )


def encode_mark(payload: MarkPayload, private_key: Ed25519PrivateKey) -> str:
    """Sign ``payload`` with ``private_key`` and return the QR text of the mark (``PM1:`` + base32)."""
    body = payload_bytes(payload, key_id(private_key.public_key()))
    signed = body + private_key.sign(body)
    return MARK_PREFIX + base64.b32encode(signed).decode("ascii").rstrip("=")


def _unpack(text: object) -> tuple[MarkPayload, str, bytes, bytes]:
    """Parse a mark's text into (payload, key id, signed bytes, signature) without verifying it."""
    if not isinstance(text, str):
        raise MarkUnreadable(text, f"a mark is text, not {type(text).__name__}")
    if not text.startswith(MARK_PREFIX):
        if text.startswith("PM") and text[2:3].isdigit():
            raise MarkUnreadable(
                text,
                f"mark version {text[2 : text.find(':')] or '?'} is not supported here; "
                f"this reader knows version {MARK_VERSION}",
            )
        raise MarkUnreadable(text, f"it does not start with {MARK_PREFIX!r}")
    body32 = text[len(MARK_PREFIX) :]
    try:
        raw = base64.b32decode(body32 + "=" * (-len(body32) % 8))
    except (binascii.Error, ValueError):
        raise MarkUnreadable(text, "its body is not base32 (A-Z, 2-7)") from None
    if base64.b32encode(raw).decode("ascii").rstrip("=") != body32:
        # The last character may carry unused bits; accepting any value there would make one mark have many
        # texts.
        raise MarkUnreadable(text, "its base32 body is not in canonical form (unused bits set)")
    if len(raw) < _FIXED_SIZE + 4 + SIGNATURE_LENGTH:
        raise MarkUnreadable(text, f"it is {len(raw)} bytes long, too short for a mark")
    body, signature = raw[:-SIGNATURE_LENGTH], raw[-SIGNATURE_LENGTH:]
    magic, version, kid, issued, mass_dg, band, tariff, currency = _FIXED.unpack_from(body)
    if magic != MARK_MAGIC or version != MARK_VERSION:
        raise MarkUnreadable(
            text,
            f"its header says {magic!r} version {version}, expected {MARK_MAGIC!r} version {MARK_VERSION}",
        )
    fields, offset = [], _FIXED_SIZE
    for name in ("office", "mail_class", "piece_id", "tracking_id"):
        length = body[offset] if offset < len(body) else 0
        chunk = body[offset + 1 : offset + 1 + length]
        if length == 0 or len(chunk) != length:
            raise MarkUnreadable(text, f"its {name} field is missing or cut short")
        try:
            fields.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            raise MarkUnreadable(text, f"its {name} field is not UTF-8") from None
        offset += 1 + length
    if offset != len(body):
        raise MarkUnreadable(text, f"{len(body) - offset} unexpected bytes follow its fields")
    try:
        currency_text = currency.decode("ascii")
    except UnicodeDecodeError:
        raise MarkUnreadable(text, "its currency is not ASCII") from None
    payload = MarkPayload(
        piece_id=fields[2],
        tracking_id=fields[3],
        office=fields[0],
        mail_class=fields[1],
        mass_g=mass_dg / 10,
        band_g=band,
        tariff_minor=tariff,
        currency=currency_text,
        issued_at=issued,
    )
    return payload, kid.hex(), body, signature


def decode_and_verify(
    text: str, public_key: Ed25519PublicKey | Mapping[str, Ed25519PublicKey]
) -> MarkPayload:
    """Read a mark's text and verify its signature; return its payload.

    ``public_key`` is the plant's verification key, or a mapping of key id → key when several are valid (key
    rotation). Raises :class:`MarkUnreadable` when the text is not a mark and :class:`MarkSignatureInvalid`
    when the signature does not verify or the signing key is unknown.
    """
    return verify_mark(text, public_key).payload


def verify_mark(text: str, public_key: Ed25519PublicKey | Mapping[str, Ed25519PublicKey]) -> VerifiedMark:
    """Like :func:`decode_and_verify`, also returning the id of the key that signed the mark."""
    payload, kid, body, signature = _unpack(text)
    keys = public_key if isinstance(public_key, Mapping) else {key_id(public_key): public_key}
    key = keys.get(kid)
    if key is None:
        raise MarkSignatureInvalid(
            kid, f"no configured public key has id {kid} (known: {', '.join(sorted(keys)) or 'none'})"
        )
    try:
        key.verify(signature, body)
    except InvalidSignature:
        raise MarkSignatureInvalid(kid, "the signature does not match the payload") from None
    return VerifiedMark(payload, kid)


def read_unverified(text: str) -> MarkPayload:
    """Parse a mark without checking its signature: for display and diagnosis only, never for acceptance."""
    return _unpack(text)[0]


def piece_mass_g(
    sheets: int, paper_gsm: float, sheet_area_m2: float, envelope_g: float, inserts_g: float = 0.0
) -> float:
    """Mass of a piece in grams: ``sheets × paper_gsm × sheet_area_m2 + envelope_g + inserts_g``, to 0.1 g."""
    if sheets < 0:
        raise ValueError(f"sheets must not be negative, got {sheets}")
    return round(sheets * paper_gsm * sheet_area_m2 + envelope_g + inserts_g, 1)


def band_for(mass_g: float, bands: Sequence[WeightBand], mail_class: str = "letter") -> WeightBand:
    """The lightest band whose upper bound holds ``mass_g``; :class:`MassAboveTopBand` when none does.

    A mass exactly on a bound belongs to that band (bands are "up to and including").
    """
    ordered = sorted(bands, key=lambda b: b.up_to_g)
    if not ordered:
        raise MassAboveTopBand(mass_g, 0, mail_class)
    for band in ordered:
        if mass_g <= band.up_to_g:
            return band
    raise MassAboveTopBand(mass_g, ordered[-1].up_to_g, mail_class)


def new_signing_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 signing key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM (store it readable by the plant's user only)."""
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    """The public key as SubjectPublicKeyInfo PEM, for acceptance stations."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from PEM; :class:`PostageError` when it is not one."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise PostageError(
            f"The postage signing key is not an unencrypted PEM private key ({exc}); "
            "generate one with `plant postage keygen`."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PostageError(
            f"The postage signing key is a {type(key).__name__}, not Ed25519; "
            "generate one with `plant postage keygen`."
        )
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Load an Ed25519 public key from PEM; :class:`PostageError` when it is not one."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise PostageError(
            f"The postage verification key is not a PEM public key ({exc}); "
            "export it with `plant postage public-key`."
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise PostageError(
            f"The postage verification key is a {type(key).__name__}, not Ed25519; "
            "export the plant's key with `plant postage public-key`."
        )
    return key
