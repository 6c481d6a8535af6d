"""Broken zips: every way a .zip can be unusable refuses the submission with a SubmissionError (exit 65) that
says what is wrong and what to do — through ``plant run`` — and ``plant watch`` moves such a zip to failed/
with its reason and goes on with the next submission.

Each broken zip is built with zipfile and then edited byte by byte.
"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
from pathlib import Path

import pytest

from plant.cli import main
from plant.errors import SubmissionError
from plant.intake.submission import MANIFEST_COLUMNS, read_submission
from tests.intake.letters import ROW, write

#: Local file header: signature, version, flags, method, time, date, CRC, sizes, name and extra lengths.
LOCAL = struct.Struct("<4sHHHHHIIIHH")
#: Offsets of the flags and the method in a local header and in a central-directory entry.
LOCAL_FLAGS, LOCAL_METHOD = 6, 8
CENTRAL_FLAGS, CENTRAL_METHOD = 8, 10


def manifest() -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=MANIFEST_COLUMNS)
    writer.writeheader()
    writer.writerow(ROW)
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def letter(tmp_path_factory) -> bytes:
    return write(tmp_path_factory.mktemp("zip") / "L1.pdf").read_bytes()


def good_zip(letter: bytes, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("manifest.csv", manifest(), compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("L1.pdf", letter, compress_type=method)
    return out.getvalue()


def entry(data: bytes, name: str) -> tuple[int, int, int]:
    """(local header offset, central entry offset, data offset) of entry ``name``."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    local = info.header_offset
    fields = LOCAL.unpack_from(data, local)
    start = local + LOCAL.size + fields[9] + fields[10]
    central = data.index(b"PK\x01\x02", start)  # the first central-directory entry …
    while data[central + 46 : central + 46 + len(name)] != name.encode():  # … on to the one of ``name``
        central = data.index(b"PK\x01\x02", central + 4)
    return local, central, start


def set_u16(data: bytearray, offset: int, value: int) -> None:
    data[offset : offset + 2] = struct.pack("<H", value)


def corrupt_member(letter: bytes) -> bytes:
    """L1.pdf's deflate data overwritten with bytes that are no deflate stream."""
    data = bytearray(good_zip(letter))
    _, _, start = entry(bytes(data), "L1.pdf")
    data[start : start + 64] = b"\xff" * 64
    return bytes(data)


def bad_crc(letter: bytes) -> bytes:
    """L1.pdf stored (not compressed) with one byte of it changed: it unpacks, but its CRC-32 is wrong."""
    data = bytearray(good_zip(letter, zipfile.ZIP_STORED))
    _, _, start = entry(bytes(data), "L1.pdf")
    data[start + 100] ^= 0x55
    return bytes(data)


def encrypted_member(letter: bytes) -> bytes:
    """L1.pdf marked as encrypted (flag bit 0), in its local header and the central directory."""
    data = bytearray(good_zip(letter))
    local, central, _ = entry(bytes(data), "L1.pdf")
    set_u16(data, local + LOCAL_FLAGS, data[local + LOCAL_FLAGS] | 0x1)
    set_u16(data, central + CENTRAL_FLAGS, data[central + CENTRAL_FLAGS] | 0x1)
    return bytes(data)


def unsupported_method(letter: bytes, method: int = 9) -> bytes:
    """L1.pdf claiming compression method ``method`` (9: Deflate64, which zipfile does not unpack)."""
    data = bytearray(good_zip(letter))
    local, central, _ = entry(bytes(data), "L1.pdf")
    set_u16(data, local + LOCAL_METHOD, method)
    set_u16(data, central + CENTRAL_METHOD, method)
    return bytes(data)


def truncated_zip(letter: bytes) -> bytes:
    """The first two thirds of a good zip (an upload that stopped)."""
    data = good_zip(letter)
    return data[: len(data) * 2 // 3]


def truncated_member(letter: bytes) -> bytes:
    """A zip whose directory is whole but whose L1.pdf data stops early (its compressed size lies)."""
    data = bytearray(good_zip(letter))
    local, central, start = entry(bytes(data), "L1.pdf")
    size = struct.unpack_from("<I", data, local + 18)[0]
    cut = size // 2
    del data[start + cut : start + size]
    shift = size - cut
    struct.pack_into("<I", data, local + 18, cut)
    central -= shift
    struct.pack_into("<I", data, central + 20, cut)
    end = data.rindex(b"PK\x05\x06")
    struct.pack_into("<I", data, end + 16, struct.unpack_from("<I", data, end + 16)[0] - shift)
    return bytes(data)


#: Each broken zip, and words its refusal must say (what is wrong; what to do).
BROKEN = {
    "corrupt_member": (corrupt_member, ["'L1.pdf'", "damaged", "zip the submission folder again"]),
    "bad_crc": (bad_crc, ["'L1.pdf'", "checksum", "zip the submission folder again"]),
    "encrypted_member": (encrypted_member, ["'L1.pdf'", "password-protected", "without a password"]),
    "unsupported_method": (unsupported_method, ["'L1.pdf'", "Deflate64", "cannot unpack", "Deflate"]),
    "not_a_zip": (
        lambda _letter: b"these are not the zips you are looking for\n" * 20,
        ["neither a folder nor a readable .zip", "not a zip archive"],
    ),
    "truncated_zip": (truncated_zip, ["incomplete", "upload stops early", "zip the submission folder again"]),
    "truncated_member": (truncated_member, ["'L1.pdf'", "zip the submission folder again"]),
    "empty_file": (lambda _letter: b"", ["empty (0 bytes)"]),
    "pdf_named_zip": (lambda letter: letter, ["is a PDF, not a submission", "manifest.csv"]),
}


def test_the_good_zip_reads(tmp_path, letter):
    """The zip every broken one is made from reads (so each refusal is the edit's doing)."""
    path = tmp_path / "good.zip"
    path.write_bytes(good_zip(letter))
    package = read_submission(path)
    assert [row.letter_id for row in package.rows] == ["L1"] and package.files["L1"] == letter


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_zip_is_refused_with_what_to_fix(tmp_path, letter, name):
    """read_submission refuses each broken zip with a SubmissionError naming the fault and the remedy."""
    build, words = BROKEN[name]
    path = tmp_path / f"{name}.zip"
    path.write_bytes(build(letter))
    with pytest.raises(SubmissionError) as refused:
        read_submission(path)
    message = str(refused.value)
    assert all(word in message for word in words), message
    assert "Traceback" not in message and "Error" not in message and "Errno" not in message


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_plant_run_on_a_broken_zip_exits_65_with_the_reason(tmp_path, letter, name, capsys):
    """``plant run BROKEN.zip`` exits 65 (EX_DATAERR) and prints the refusal, no traceback."""
    build, words = BROKEN[name]
    path = tmp_path / f"{name}.zip"
    path.write_bytes(build(letter))
    code = main(["--state-dir", str(tmp_path / "state"), "run", str(path)])
    err = capsys.readouterr().err
    said = err.strip().splitlines()[-1]  # after the plant's own log lines
    assert code == 65, err
    assert said.startswith("plant: ") and all(word in said for word in words) and "Traceback" not in err


def test_plant_watch_once_fails_the_bad_zip_and_takes_the_good_folder(
    tmp_path, letter, capsys, no_leftover_redis
):
    """``plant watch --once`` with a zip whose member is corrupt and a good folder: the folder is taken and
    done, the zip lands in failed/ with its reason beside it (naming the zip, not its claimed path)."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a-bad.zip").write_bytes(corrupt_member(letter))
    good = drop / "b-good"
    good.mkdir()
    (good / "manifest.csv").write_bytes(manifest())
    (good / "L1.pdf").write_bytes(letter)
    (good / "READY").write_text("")
    code = main(["--state-dir", str(tmp_path / "state"), "watch", str(drop), "--once", "--timeout", "300"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Took 1 submission(s)" in err
    assert sorted(p.name for p in (drop / "done").iterdir()) == ["b-good"]
    assert sorted(p.name for p in (drop / "failed").iterdir()) == ["a-bad.zip", "a-bad.zip.error.txt"]
    reason = (drop / "failed" / "a-bad.zip.error.txt").read_text()
    assert reason.startswith("a-bad.zip: the entry 'L1.pdf' is damaged") and ".claimed" not in reason
    assert not list((drop / ".claimed").iterdir())


def test_scan_once_goes_on_after_each_kind_of_broken_zip(tmp_path, letter):
    """Every broken zip in one drop folder goes to failed/ with a reason; the good zip after them is taken."""
    from plant.intake.watch import scan_once

    drop = tmp_path / "drop"
    drop.mkdir()
    for name, (build, _) in BROKEN.items():
        (drop / f"a-{name}.zip").write_bytes(build(letter))
    (drop / "z-good.zip").write_bytes(good_zip(letter))
    taken = scan_once(drop, lambda path: read_submission(path).submission_id)
    assert [name for name, sid in taken if sid] == ["z-good.zip"]
    failed = drop / "failed"
    for name in BROKEN:
        assert (failed / f"a-{name}.zip").is_file()
        reason = (failed / f"a-{name}.zip.error.txt").read_text()
        assert reason.startswith(f"a-{name}.zip") and ";" in reason
    assert Path(drop / "done" / "z-good.zip").is_file()
