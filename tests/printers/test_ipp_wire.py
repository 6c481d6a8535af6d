"""printers.ipp_wire: IPP messages encode to the bytes RFC 8010 lays down and decode back to the same
values."""

from __future__ import annotations

import datetime as dt
import struct

import pytest

from printers import ipp_wire as wire
from printers.ipp_wire import Attribute, GroupTag, Message, Operation, Tag, attr


def test_a_request_encodes_to_the_rfc_8010_layout():
    """Version, operation, request id, then each attribute as tag, name length, name, value length, value."""
    message = Message(
        Operation.GET_JOBS, 7, ((GroupTag.OPERATION, (attr("which-jobs", Tag.KEYWORD, "all"),)),)
    )
    expected = b"\x02\x00\x00\x0a\x00\x00\x00\x07" + b"\x01" + b"\x44\x00\x0awhich-jobs\x00\x03all" + b"\x03"
    assert wire.encode(message) == expected


def test_additional_values_have_an_empty_name():
    """A 1setOf attribute's further values are written with name length 0, and decode into one attribute."""
    requested = attr("requested-attributes", Tag.KEYWORD, "a", "b")
    encoded = wire.encode(Message(0, 1, ((GroupTag.OPERATION, (requested,)),)))
    assert b"\x44\x00\x00\x00\x01b" in encoded
    assert wire.decode(encoded)[0].group(GroupTag.OPERATION)["requested-attributes"].values == ("a", "b")


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (Tag.INTEGER, -5),
        (Tag.INTEGER, 2**31 - 1),
        (Tag.ENUM, 9),
        (Tag.BOOLEAN, True),
        (Tag.BOOLEAN, False),
        (Tag.KEYWORD, "two-sided-long-edge"),
        (Tag.NAME, "J-1"),
        (Tag.TEXT, "Ünïcode text"),
        (Tag.URI, "ipp://h/ipp/print"),
        (Tag.MIME_TYPE, "application/pdf"),
        (Tag.OCTET_STRING, b"\x00\xff"),
        (Tag.RANGE, (1, 100)),
        (Tag.RESOLUTION, (600, 600, 3)),
        (Tag.NO_VALUE, None),
        (Tag.UNKNOWN, None),
        (
            Tag.DATE_TIME,
            dt.datetime(
                2024, 5, 6, 7, 8, 9, 500_000, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))
            ),
        ),
    ],
)
def test_values_round_trip(tag, value):
    """Every value type the driver meets decodes to what was encoded (out-of-band values to None)."""
    message = Message(0x0000, 42, ((GroupTag.JOB, (Attribute("x", tag, (value,)),)),))
    decoded, rest = wire.decode(wire.encode(message))
    assert decoded == message and rest == b""


def test_collections_round_trip_with_nested_members():
    """A collection decodes to a dict of its members; a member collection to a nested dict."""
    size = {"x-dimension": (Tag.INTEGER, (21000,)), "y-dimension": (Tag.INTEGER, (29700,))}
    media_col = {"media-size": (Tag.BEGIN_COLLECTION, (size,)), "media-type": (Tag.KEYWORD, ("stationery",))}
    encoded = wire.encode(
        Message(
            0,
            1,
            (
                (
                    GroupTag.JOB,
                    (
                        Attribute("media-col", Tag.BEGIN_COLLECTION, (media_col,)),
                        attr("copies", Tag.INTEGER, 2),
                    ),
                ),
            ),
        )
    )
    job = wire.decode(encoded)[0].group(GroupTag.JOB)
    assert job["media-col"].value == {
        "media-size": {"x-dimension": 21000, "y-dimension": 29700},
        "media-type": "stationery",
    }
    assert job["copies"].value == 2  # the attribute after the collection is read in its place


def test_groups_of_one_kind_stay_apart_and_the_document_follows():
    """A Get-Jobs answer has one job group per job; bytes after the end tag are the document."""
    jobs = tuple((GroupTag.JOB, (attr("job-id", Tag.INTEGER, n),)) for n in (1, 2))
    decoded, rest = wire.decode(wire.encode(Message(0, 3, jobs)) + b"%PDF-1.7")
    assert [group["job-id"].value for group in decoded.all_groups(GroupTag.JOB)] == [1, 2]
    assert rest == b"%PDF-1.7"


def test_language_qualified_text_decodes_to_its_text():
    """textWithLanguage carries the language, then the text: the driver reads the text."""
    value = struct.pack(">H", 2) + b"en" + struct.pack(">H", 5) + b"hello"
    data = (
        b"\x02\x00\x00\x00\x00\x00\x00\x01\x01"
        + b"\x35"
        + struct.pack(">H", 14)
        + b"status-message"
        + struct.pack(">H", len(value))
        + value
        + b"\x03"
    )
    message = wire.decode(data)[0]
    assert message.status_message == "hello" and message.ok


@pytest.mark.parametrize(
    "data",
    [
        b"\x02\x00",
        b"\x02\x00\x00\x00\x00\x00\x00\x01\x01\x44\x00\x09which",
        b"\x02\x00\x00\x00\x00\x00\x00\x01\x01",
        b"<html>not ipp</html>",
    ],
)
def test_truncated_or_foreign_bytes_raise_a_decode_error(data):
    """Bytes that end early, or are not IPP at all, raise IppDecodeError instead of returning half a
    message."""
    with pytest.raises(wire.IppDecodeError):
        wire.decode(data)


def test_status_codes_are_named_for_messages():
    """Known status codes read as their RFC 8011 names; others as hex."""
    assert wire.status_name(0x0507) == "server-error-busy" and wire.status_name(0x04FF) == "0x04FF"
    assert not Message(0x0406, 1).ok and Message(0x0001, 1).ok
