"""Issue 12, hole 9: a submission is only its own files.

A symbolic link (to another tenant's letter), a FIFO, a device or a folder where a file is expected refuses
the submission naming the entry, and nothing of it is stored; a zip is streamed within a cap per entry and
per submission, so a zip bomb is refused with bounded memory.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from plant.errors import SubmissionError
from plant.intake import submission
from plant.intake.submission import MANIFEST_COLUMNS, intake, read_submission
from plant.intake.watch import scan_once
from plant.ledger import Ledger
from plant.ledger import schema as t
from tests.intake.letters import ROW, write

ROOT = Path(__file__).resolve().parents[2]


def manifest(letter_ids) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {**ROW, "letter_id": letter_id, "recipient_id": f"R-{n}"} for n, letter_id in enumerate(letter_ids)
    )
    return out.getvalue().encode()


def folder_of(tmp_path: Path, *letter_ids: str) -> Path:
    """A submission folder listing ``letter_ids``, holding a PDF for the first only."""
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "manifest.csv").write_bytes(manifest(letter_ids))
    write(folder / f"{letter_ids[0]}.pdf")
    return folder


def stored(settings) -> list[Path]:
    return [p for p in settings.blobs_dir.rglob("*") if p.is_file()] if settings.blobs_dir.exists() else []


def test_a_link_to_another_tenants_letter_is_refused_and_nothing_stored(tmp_path, settings):
    """L2.pdf is a link to a PDF outside the folder: the whole submission is refused naming L2.pdf, no
    blob is stored and the ledger holds no submission."""
    (tmp_path / "other-tenant").mkdir()
    secret = write(tmp_path / "other-tenant" / "secret.pdf")
    folder = folder_of(tmp_path, "L1", "L2")
    (folder / "L2.pdf").symlink_to(secret)
    settings.state_dir.mkdir(parents=True)
    ledger = Ledger(settings.ledger_url)
    try:
        with pytest.raises(SubmissionError, match=r"'L2\.pdf' is a symbolic link.*put the file itself"):
            intake(ledger, settings, folder)
        with ledger.read() as conn:
            assert conn.execute(select(t.submissions)).all() == []
            assert conn.execute(select(t.letters)).all() == []
    finally:
        ledger.dispose()
    assert stored(settings) == []


def test_a_link_with_any_name_is_refused(tmp_path):
    """A link is refused whatever its name: the manifest itself, or a file the intake would not read."""
    folder = folder_of(tmp_path, "L1")
    (folder / "notes.txt").symlink_to("/etc/hostname")
    with pytest.raises(SubmissionError, match=r"'notes\.txt' is a symbolic link"):
        read_submission(folder)
    (folder / "notes.txt").unlink()
    (folder / "manifest.csv").rename(tmp_path / "manifest.csv")
    (folder / "manifest.csv").symlink_to(tmp_path / "manifest.csv")
    with pytest.raises(SubmissionError, match=r"'manifest\.csv' is a symbolic link"):
        read_submission(folder)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    """A FIFO named like a letter (nobody writes to it) is refused at once, naming it."""
    folder = folder_of(tmp_path, "L1", "L2")
    os.mkfifo(folder / "L2.pdf")
    outcome: list[BaseException | object] = []

    def read() -> None:
        try:
            outcome.append(read_submission(folder))
        except BaseException as exc:  # reported below
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(20)
    if reader.is_alive():  # unblock the reader before failing
        with open(folder / "L2.pdf", "wb"):
            pass
        pytest.fail("reading a submission with a FIFO blocked")
    assert isinstance(outcome[0], SubmissionError)
    assert "'L2.pdf' is a named pipe (FIFO), not a regular file" in str(outcome[0])


def test_a_folder_where_a_pdf_is_expected_is_refused(tmp_path):
    folder = folder_of(tmp_path, "L1", "L2")
    (folder / "L2.pdf").mkdir()
    with pytest.raises(SubmissionError, match=r"'L2\.pdf' is a folder where a file is expected"):
        read_submission(folder)


def test_a_file_swapped_for_a_link_after_listing_is_not_followed(tmp_path):
    """The file is opened with O_NOFOLLOW: a link put in its place between listing and reading is refused."""
    folder = folder_of(tmp_path, "L1")
    (folder / "L2.pdf").symlink_to(write(tmp_path / "elsewhere.pdf"))
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(SubmissionError, match=r"'L2\.pdf' is a symbolic link"):
            submission._read_regular(folder, fd, "L2.pdf", submission.MAX_FILE_BYTES)
    finally:
        os.close(fd)


def test_a_zip_entry_that_is_a_link_is_refused(tmp_path):
    """A zip entry recorded as a symbolic link (Unix mode in its attributes) refuses the zip, naming it."""
    path = tmp_path / "batch.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.csv", manifest(["L1"]))
        link = zipfile.ZipInfo("L1.pdf")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "../../other-tenant/secret.pdf")
    with pytest.raises(SubmissionError, match=r"entry 'L1\.pdf' is a symbolic link, not a regular file"):
        read_submission(path)


def test_a_link_dropped_in_the_drop_folder_is_refused(tmp_path):
    """A link in the drop folder to another sender's complete submission is moved to failed/ with the
    reason, and never taken."""
    elsewhere = folder_of(tmp_path, "L1")
    (elsewhere / "READY").write_text("")
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "theirs").symlink_to(elsewhere)
    taken: list[Path] = []
    assert scan_once(drop, lambda p: taken.append(p) or "S-x") == [("theirs", None)]
    assert taken == []
    assert "symbolic link" in (drop / "failed" / "theirs.error.txt").read_text()
    assert (drop / "failed" / "theirs").is_symlink() and (elsewhere / "L1.pdf").is_file()


#: Peak resident memory allowed to the child reading the zip bombs, bytes (the interpreter and the plant's
#: imports take about a third of it).
PEAK_RSS = 400 * 2**20

_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))  # never let a regression eat the host
from plant.errors import SubmissionError
from plant.intake.submission import read_submission
out = {}
package = read_submission(sys.argv[1])
out["one"] = {k: list(v) for k, v in package.problems.items()}
try:
    read_submission(sys.argv[2])
    out["many"] = None
except SubmissionError as exc:
    out["many"] = str(exc)
status = open("/proc/self/status").read()
out["peak_kb"] = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1])
print(json.dumps(out))
"""


def bomb(path: Path, members: dict[str, int], extra: dict[str, bytes]) -> Path:
    """A zip whose ``members`` are that many zero bytes each (streamed: the test holds none of them)."""
    chunk = bytes(2**20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in extra.items():
            archive.writestr(name, data)
        for name, size in members.items():
            with archive.open(name, "w", force_zip64=True) as member:
                for _ in range(size // len(chunk)):
                    member.write(chunk)
    return path


def test_zip_bombs_are_refused_with_bounded_memory(tmp_path):
    """One entry far over the per-letter cap (256 MiB of zeros in a zip of a few hundred kB) is left
    unpacked with FILE_TOO_LARGE; entries each within the cap but together over the per-submission cap
    (18 × 60 MiB) refuse the zip saying the limit and what to do. The child doing it never holds more than
    PEAK_RSS."""
    letter = write(tmp_path / "l2.pdf").read_bytes()
    one = bomb(
        tmp_path / "one.zip",
        {"L1.pdf": 256 * 2**20},
        {"manifest.csv": manifest(["L1", "L2"]), "L2.pdf": letter},
    )
    ids = [f"L{n:02d}" for n in range(18)]
    many = bomb(tmp_path / "many.zip", {f"{i}.pdf": 60 * 2**20 for i in ids}, {"manifest.csv": manifest(ids)})
    assert one.stat().st_size < 2**20 and many.stat().st_size < 4 * 2**20
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(one), str(many)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["one"]["L1"][0] == "FILE_TOO_LARGE" and "up to 64 MiB" in out["one"]["L1"][1]
    assert "L2" not in out["one"]
    assert out["many"] is not None
    assert "more than 1024 MiB" in out["many"] and "split it into several submissions" in out["many"]
    assert out["peak_kb"] * 1024 < PEAK_RSS, out["peak_kb"]
