"""Helpers for end-to-end tests: run the real CLI, read the ledger, decode what was printed."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zxingcpp
from PIL import Image
from sqlalchemy import create_engine, select, text

from plant.ledger import schema as t
from plant.runtime.worker import SESSION_PID
from plant.testing import read_rows, write_config
from tracking.control_code import parse_control

#: Seconds an end-to-end command may take before the test fails.
COMMAND_TIMEOUT_S = 600


def plant_env(state_dir: Path) -> dict:
    """Environment for a `plant` subprocess on ``state_dir`` (no external Redis or database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANT_")}
    env["PLANT_STATE_DIR"] = str(state_dir)
    return env


def plant_command(args: list[str], config: Path | None = None) -> list[str]:
    """The command line of ``plant [--config CONFIG] ARGS`` in this interpreter."""
    return [sys.executable, "-m", "plant"] + (["--config", str(config)] if config else []) + args


def run_plant(
    args: list[str], state_dir: Path, config: Path | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """Run ``plant ARGS`` to its end; raise with its output if it fails."""
    return subprocess.run(
        plant_command(args, config),
        env=plant_env(state_dir),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        **kwargs,
    )


def run_submission(folder: Path, submission: Path, config_text: str = "") -> Path:
    """``plant run SUBMISSION`` to its end on a plant.toml of ``config_text`` in ``folder``, with the state
    dir ``folder/state`` (its embedded Redis reaped after); assert it succeeded and return the state dir."""
    config = write_config(folder, config_text)
    state = folder / "state"
    try:
        result = run_plant(["run", str(submission), "--timeout", "300"], state, config=config)
    finally:
        reap_redis(state)
    assert result.returncode == 0, result.stderr[-3000:]
    return state


def query(state_dir: Path, sql: str) -> list:
    """Rows of ``sql`` against the state dir's ledger."""
    engine = create_engine(f"sqlite:///{state_dir / 'ledger.sqlite'}")
    with engine.connect() as conn:
        rows = conn.execute(text(sql)).all()
    engine.dispose()
    return rows


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def decode_control_codes(pdf: Path, workdir: Path, dpi: int = 150) -> list[str | None]:
    """Render every page of ``pdf`` with pdftoppm and decode the control DataMatrix of each with zxing-cpp."""
    prefix = workdir / pdf.stem
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-gray",
            "-x",
            "0",
            "-y",
            str(int(230 / 25.4 * dpi)),
            "-W",
            str(int(40 / 25.4 * dpi)),
            "-H",
            str(int(45 / 25.4 * dpi)),
            str(pdf),
            str(prefix),
        ],
        check=True,
        timeout=300,
    )
    texts = []
    for image in sorted(workdir.glob(f"{pdf.stem}-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1])):
        found = zxingcpp.read_barcodes(
            np.asarray(Image.open(image)), formats=zxingcpp.BarcodeFormat.DataMatrix
        )
        texts.append(found[0].text if found else None)
        image.unlink()
    return texts


def expected_codes(state_dir: Path, job_id: str) -> list[str]:
    """The control code every sheet of ``job_id`` must carry, from the ledger."""
    rows = query(
        state_dir,
        f"SELECT p.piece_id, p.sheets FROM job_pieces j JOIN pieces p USING (piece_id) "
        f"WHERE j.job_id = '{job_id}' ORDER BY j.seq",
    )
    return [f"{job_id}|{piece}|{i}/{n}" for piece, n in rows for i in range(1, n + 1)]


def check_control_codes(state_dir: Path, workdir: Path) -> int:
    """Assert every spooled sheet's control code decodes to its job, piece and sheet; return sheets
    checked."""
    checked = 0
    for job_id, pdf in query(state_dir, "SELECT job_id, pdf_path FROM print_jobs ORDER BY number"):
        decoded = decode_control_codes(Path(pdf), workdir)
        expected = expected_codes(state_dir, job_id)
        assert decoded == expected, f"{job_id}: decoded {decoded[:3]}… expected {expected[:3]}…"
        for text_ in decoded:
            parse_control(text_)
        checked += len(decoded)
    return checked


def load_json(path: Path):
    return json.loads(Path(path).read_text())


def reap_redis(state_dir: Path) -> None:
    """Kill the embedded redis-server of ``state_dir`` if a failed test left it running."""
    registry = Path(state_dir) / "redis" / "queue.rdb.settings"
    if not registry.exists():
        return
    pidfile = Path(json.loads(registry.read_text())["pidfile"])
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().strip()), 9)


#: Seconds a phase of a session test may take before it fails (each takes a few; this only bounds a hang).
PHASE_TIMEOUT_S = 120


def wait_for(predicate, what: str, timeout: float = PHASE_TIMEOUT_S, detail=lambda: "") -> None:
    """Return once ``predicate()`` holds; fail naming ``what`` (and ``detail()``) if it does not within
    ``timeout`` seconds (a bound on a hang, never a claim about speed)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            extra = detail()
            raise AssertionError(f"timed out waiting for {what}" + (f": {extra}" if extra else ""))
        time.sleep(0.1)


def read_ledger(session, statement) -> list:
    """All rows of ``statement`` from a running session's ledger."""
    return read_rows(session, statement)


def letter_pieces(session) -> list:
    """Every letter of a running session with its piece: ``pk``, ``state``, ``tracking_id``, ``piece_id``,
    ``prints``."""
    letters, pieces = t.letters.c, t.pieces.c
    columns = (letters.pk, letters.state, pieces.tracking_id, pieces.piece_id, pieces.prints)
    return read_ledger(
        session, select(*columns).select_from(t.letters.join(t.pieces, pieces.letter_pk == letters.pk))
    )


def workers_of(session_pid: int) -> list[int]:
    """Pids of the `plant worker` processes whose environment names ``session_pid`` as their session."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"worker" in cmdline and f"{SESSION_PID}={session_pid}".encode() in environ:
            found.append(int(entry.name))
    return found
