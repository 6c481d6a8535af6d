"""IPP/2.0 messages on the wire (RFC 8010): encode a request, decode a response, nothing else.

A message is a version, an operation id (request) or status code (response), a request id and groups of
attributes; each attribute has a value tag and one or more values. Values decode to plain Python: integers and
enums to ``int``, booleans to ``bool``, strings (text, name, keyword, uri, mimeMediaType, …) to ``str``,
octetString to ``bytes``, dateTime to an aware ``datetime``, rangeOfInteger to ``(low, high)``, resolution to
``(x, y, units)``, a collection to a ``dict`` of its members, and the out-of-band values (no-value, unknown,
unsupported) to ``None`` with the tag kept, so "present but empty" differs from "absent".

Kept apart from the driver so the byte layout is tested on its own (round trips, and bytes written by hand).
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import SupportsBytes, SupportsIndex

from printers._values import as_int, as_items

#: The protocol version the plant speaks (IPP Everywhere printers all take 2.0).
VERSION = (2, 0)


class GroupTag(IntEnum):
    """Delimiter tags that open an attribute group (and end the attributes)."""

    OPERATION = 0x01
    JOB = 0x02
    END = 0x03
    PRINTER = 0x04
    UNSUPPORTED = 0x05


class Tag(IntEnum):
    """Value tags (RFC 8010 section 3.5.2) the client reads and writes."""

    UNSUPPORTED = 0x10
    UNKNOWN = 0x12
    NO_VALUE = 0x13
    INTEGER = 0x21
    BOOLEAN = 0x22
    ENUM = 0x23
    OCTET_STRING = 0x30
    DATE_TIME = 0x31
    RESOLUTION = 0x32
    RANGE = 0x33
    BEGIN_COLLECTION = 0x34
    TEXT_WITH_LANGUAGE = 0x35
    NAME_WITH_LANGUAGE = 0x36
    END_COLLECTION = 0x37
    TEXT = 0x41
    NAME = 0x42
    KEYWORD = 0x44
    URI = 0x45
    URI_SCHEME = 0x46
    CHARSET = 0x47
    LANGUAGE = 0x48
    MIME_TYPE = 0x49
    MEMBER_NAME = 0x4A


class Operation(IntEnum):
    """IPP operation ids the driver uses."""

    PRINT_JOB = 0x0002
    CREATE_JOB = 0x0005
    SEND_DOCUMENT = 0x0006
    CANCEL_JOB = 0x0008
    GET_JOB_ATTRIBUTES = 0x0009
    GET_JOBS = 0x000A
    GET_PRINTER_ATTRIBUTES = 0x000B


#: Out-of-band tags: the attribute carries no value, decoded as None.
OUT_OF_BAND = frozenset({Tag.UNSUPPORTED, Tag.UNKNOWN, Tag.NO_VALUE})
#: Tags whose value is a UTF-8 string (the language-qualified ones are decoded to their text only).
STRING_TAGS = frozenset(
    {
        Tag.TEXT,
        Tag.NAME,
        Tag.KEYWORD,
        Tag.URI,
        Tag.URI_SCHEME,
        Tag.CHARSET,
        Tag.LANGUAGE,
        Tag.MIME_TYPE,
        Tag.MEMBER_NAME,
    }
)
#: Status codes below this are successes (0x0000-0x00FF), RFC 8011 section 4.1.6.
SUCCESS_LIMIT = 0x0100
#: RFC 8011 names of the status codes the driver meets, for messages.
STATUS_NAMES: Mapping[int, str] = {
    0x0000: "successful-ok",
    0x0001: "successful-ok-ignored-or-substituted-attributes",
    0x0400: "client-error-bad-request",
    0x0401: "client-error-forbidden",
    0x0402: "client-error-not-authenticated",
    0x0403: "client-error-not-authorized",
    0x0404: "client-error-not-possible",
    0x0405: "client-error-timeout",
    0x0406: "client-error-not-found",
    0x040A: "client-error-document-format-not-supported",
    0x040B: "client-error-attributes-or-values-not-supported",
    0x0500: "server-error-internal-error",
    0x0501: "server-error-operation-not-supported",
    0x0502: "server-error-service-unavailable",
    0x0503: "server-error-version-not-supported",
    0x0506: "server-error-not-accepting-jobs",
    0x0507: "server-error-busy",
}


class IppDecodeError(ValueError):
    """Bytes that are not an IPP message (truncated, or an unknown layout)."""


def status_name(code: int) -> str:
    """The RFC 8011 name of a status code, or its hex value for one we have no name for."""
    return STATUS_NAMES.get(code, f"0x{code:04X}")


@dataclass(frozen=True)
class Attribute:
    """One attribute: its name, its value tag and its values (one or more)."""

    name: str
    tag: int
    values: tuple[object, ...]

    @property
    def value(self) -> object:
        """The first value (what a single-valued attribute holds)."""
        return self.values[0]


def attr(name: str, tag: int, *values: object) -> Attribute:
    """An attribute to send, e.g. ``attr("copies", Tag.INTEGER, 2)``."""
    return Attribute(name, tag, values or (None,))


@dataclass(frozen=True)
class Message:
    """An IPP request or response: ``code`` is the operation id of a request or the status of a response."""

    code: int
    request_id: int
    groups: tuple[tuple[int, tuple[Attribute, ...]], ...] = ()
    version: tuple[int, int] = VERSION

    def group(self, tag: int) -> dict[str, Attribute]:
        """The attributes of the first group with this tag, by name (empty if there is none)."""
        return next(iter(self.all_groups(tag)), {})

    def all_groups(self, tag: int) -> list[dict[str, Attribute]]:
        """Every group with this tag (a Get-Jobs response has one job group per job), each by name."""
        return [{a.name: a for a in attributes} for group, attributes in self.groups if group == tag]

    @property
    def ok(self) -> bool:
        """True for a response whose status is a success."""
        return self.code < SUCCESS_LIMIT

    @property
    def status_message(self) -> str:
        """The response's ``status-message`` (the printer's words about an error), or ""."""
        found = self.group(GroupTag.OPERATION).get("status-message")
        return str(found.value) if found is not None and found.value is not None else ""


@dataclass
class _Writer:
    parts: list[bytes] = field(default_factory=list)

    def raw(self, data: bytes) -> None:
        self.parts.append(data)

    def item(self, tag: int, name: str, value: bytes) -> None:
        encoded = name.encode()
        self.parts.append(
            struct.pack(">BH", tag, len(encoded)) + encoded + struct.pack(">H", len(value)) + value
        )


def encode(message: Message) -> bytes:
    """The bytes of an IPP message (without a document: HTTP sends the document right after them)."""
    out = _Writer()
    out.raw(struct.pack(">BBHI", *message.version, message.code, message.request_id))
    for group, attributes in message.groups:
        out.raw(bytes([group]))
        for attribute in attributes:
            _write_attribute(out, attribute.name, attribute.tag, attribute.values)
    out.raw(bytes([GroupTag.END]))
    return b"".join(out.parts)


def _write_attribute(out: _Writer, name: str, tag: int, values: Iterable[object]) -> None:
    for i, value in enumerate(values):
        shown = name if i == 0 else ""
        if tag == Tag.BEGIN_COLLECTION:
            out.item(tag, shown, b"")
            for member, (member_tag, member_values) in _members(value).items():
                out.item(Tag.MEMBER_NAME, "", member.encode())
                _write_attribute(out, "", member_tag, member_values)
            out.item(Tag.END_COLLECTION, "", b"")
        else:
            out.item(tag, shown, _encode_value(tag, value))


def _members(value: object) -> Mapping[str, tuple[int, Iterable[object]]]:
    """A collection to send: member name → (value tag, values); TypeError for anything else."""
    if isinstance(value, Mapping):
        return value
    raise TypeError(
        f"a collection is a mapping of member name to (tag, values), not {type(value).__name__!r}"
    )


def _encode_value(tag: int, value: object) -> bytes:
    """One value's bytes for its tag."""
    if tag in OUT_OF_BAND:
        return b""
    if tag in (Tag.INTEGER, Tag.ENUM):
        return struct.pack(">i", as_int(value))
    if tag == Tag.BOOLEAN:
        return b"\x01" if value else b"\x00"
    if tag == Tag.RANGE:
        return struct.pack(">ii", *as_items(value))
    if tag == Tag.RESOLUTION:
        return struct.pack(">iib", *as_items(value))
    if tag == Tag.DATE_TIME:
        if not isinstance(value, dt.datetime):
            raise TypeError(f"a dateTime value is a datetime, not {type(value).__name__!r}")
        return _encode_date(value)
    if tag == Tag.OCTET_STRING:
        if not isinstance(value, (Iterable, SupportsIndex, SupportsBytes)):
            raise TypeError(f"cannot convert {type(value).__name__!r} object to bytes")
        return bytes(value)
    if tag in STRING_TAGS:
        return str(value).encode()
    raise ValueError(f"cannot encode a value with IPP tag 0x{tag:02X}")


def _encode_date(moment: dt.datetime) -> bytes:
    """RFC 2579 DateAndTime: 11 bytes, local time with its offset from UTC."""
    offset = moment.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = b"+" if minutes >= 0 else b"-"
    return (
        struct.pack(
            ">HBBBBBB",
            moment.year,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
            moment.second,
            moment.microsecond // 100_000,
        )
        + sign
        + bytes(divmod(abs(minutes), 60))
    )


def _decode_date(data: bytes) -> dt.datetime:
    year, month, day, hour, minute, second, decisecond = struct.unpack(">HBBBBBB", data[:8])
    minutes = data[9] * 60 + data[10]
    zone = dt.timezone(dt.timedelta(minutes=-minutes if data[8:9] == b"-" else minutes))
    return dt.datetime(year, month, day, hour, minute, second, decisecond * 100_000, tzinfo=zone)


def _decode_value(tag: int, data: bytes) -> object:
    """One value from its bytes (unknown tags keep their bytes)."""
    if tag in OUT_OF_BAND:
        return None
    if tag in (Tag.INTEGER, Tag.ENUM):
        return struct.unpack(">i", data)[0]
    if tag == Tag.BOOLEAN:
        return data != b"\x00"
    if tag == Tag.RANGE:
        return struct.unpack(">ii", data)
    if tag == Tag.RESOLUTION:
        return struct.unpack(">iib", data)
    if tag == Tag.DATE_TIME:
        return _decode_date(data)
    if tag in (Tag.TEXT_WITH_LANGUAGE, Tag.NAME_WITH_LANGUAGE):
        language_length = struct.unpack(">H", data[:2])[0]
        text_at = 2 + language_length
        return data[text_at + 2 : text_at + 2 + struct.unpack(">H", data[text_at : text_at + 2])[0]].decode()
    if tag in STRING_TAGS:
        return data.decode(errors="replace")
    return bytes(data)


class _Reader:
    """Walks the bytes of a message; every read checks that the bytes are there."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise IppDecodeError(f"message ends at byte {len(self.data)}, {count} more expected at {self.at}")
        chunk = self.data[self.at : self.at + count]
        self.at += count
        return chunk

    def item(self) -> tuple[int, str, bytes]:
        tag = self.take(1)[0]
        name = self.take(struct.unpack(">H", self.take(2))[0]).decode(errors="replace")
        return tag, name, self.take(struct.unpack(">H", self.take(2))[0])

    def peek(self) -> int:
        if self.at >= len(self.data):
            raise IppDecodeError("message ends before its end-of-attributes tag")
        return self.data[self.at]


def decode(data: bytes) -> tuple[Message, bytes]:
    """A message from its bytes, and whatever follows its attributes (a document, for a request)."""
    read = _Reader(data)
    major, minor, code, request_id = struct.unpack(">BBHI", read.take(8))
    groups: list[tuple[int, tuple[Attribute, ...]]] = []
    while (tag := read.take(1)[0]) != GroupTag.END:
        if tag > 0x0F:
            raise IppDecodeError(f"value tag 0x{tag:02X} outside any attribute group at byte {read.at - 1}")
        groups.append((tag, tuple(_read_group(read))))
    return Message(code, request_id, tuple(groups), (major, minor)), data[read.at :]


def _read_group(read: _Reader) -> list[Attribute]:
    attributes: list[Attribute] = []
    while read.peek() > 0x0F:
        tag, name, value = read.item()
        decoded = _read_collection(read) if tag == Tag.BEGIN_COLLECTION else _decode_value(tag, value)
        if name:
            attributes.append(Attribute(name, tag, (decoded,)))
        elif attributes:  # an additional value of the attribute before
            last = attributes[-1]
            attributes[-1] = Attribute(last.name, last.tag, (*last.values, decoded))
        else:
            raise IppDecodeError(f"additional value without an attribute at byte {read.at}")
    return attributes


def _read_collection(read: _Reader) -> dict[str, object]:
    """A collection's members up to its end tag: one value per member, a tuple for a member with several."""
    members: dict[str, object] = {}
    current = ""
    while True:
        tag, _, value = read.item()
        if tag == Tag.END_COLLECTION:
            return members
        if tag == Tag.MEMBER_NAME:
            current = value.decode(errors="replace")
            continue
        decoded = _read_collection(read) if tag == Tag.BEGIN_COLLECTION else _decode_value(tag, value)
        if current in members:
            earlier = members[current]
            members[current] = (*earlier, decoded) if isinstance(earlier, tuple) else (earlier, decoded)
        else:
            members[current] = decoded


def request(
    operation: int,
    request_id: int,
    printer_uri: str,
    *operation_attributes: Attribute,
    job: Iterable[Attribute] = (),
) -> Message:
    """A request with the attributes every request starts with (charset, language, printer-uri)."""
    head = (
        attr("attributes-charset", Tag.CHARSET, "utf-8"),
        attr("attributes-natural-language", Tag.LANGUAGE, "en"),
        attr("printer-uri", Tag.URI, printer_uri),
    )
    groups = [(GroupTag.OPERATION, head + operation_attributes)]
    job = tuple(job)
    if job:
        groups.append((GroupTag.JOB, job))
    return Message(operation, request_id, tuple(groups))
