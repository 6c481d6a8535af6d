"""The fault suite's harness: how many runs, the fleet, the seeded fault moments, and the results table.

Counts: every fault kind is one parametrized test over ``run`` 0 … ``PLANT_FAULT_RUNS``-1 (default
:data:`FULL_RUNS`), each marked ``faults``. A run without ``-m`` selecting ``faults`` (CI) keeps only the
first :data:`CI_RUNS` (``PLANT_FAULT_CI_RUNS``) of each — deselected in ``tests/faults/conftest.py``, never
skipped —; ``pytest -m faults tests/faults`` runs the full counts.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from plant.demo import generate
from plant.testing import write_config
from tests.plant.helpers import plant_command, plant_env

#: Runs per fault kind in CI (the default run) and under ``-m faults``.
CI_RUNS = int(os.environ.get("PLANT_FAULT_CI_RUNS", "1"))
FULL_RUNS = int(os.environ.get("PLANT_FAULT_RUNS", "20"))
#: Letters per run.
LETTERS = 40
#: Final states a run that heals by itself ends in (no UNACCOUNTED, FAILED, …).
HEALED_STATES = ("DISPATCHED", "DELIVERED_DIGITAL", "REJECTED")
#: Seconds a run (or a resume) may take before the test fails: a bound on a hang, not a claim about speed.
RUN_TIMEOUT_S = 120
#: Seconds to wait for a fault point to come.
POINT_TIMEOUT_S = 120

#: A fleet slow enough (real time) that a fault lands in the middle of the run: two presses, two inserters.
FLEET = """
time_scale = 1.0
job_max_pieces = 8
[[printers]]
name = "press-a"
sheets_per_minute = 900
[[printers]]
name = "press-b"
sheets_per_minute = 900
[[inserters]]
name = "ins-a"
envelopes_per_hour = 30000
[[inserters]]
name = "ins-b"
envelopes_per_hour = 30000
"""


def start_run(
    tmp_path: Path,
    run: int,
    *,
    fleet: str = FLEET,
    seed: int = 100,
    env: dict[str, str] | None = None,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
) -> tuple[subprocess.Popen, Path, Path]:
    """`plant run` of a fresh batch of :data:`LETTERS` (seeded by ``seed + run``) on ``fleet``, in its own
    process group, with ``env`` added to the plant's environment (its worker inherits it) and its output to
    ``stdout``/``stderr`` (pipes, or files off a full disk): (process, state, config)."""
    batch = generate(tmp_path / "in", LETTERS, seed=seed + run)
    config = write_config(tmp_path, fleet)
    state = tmp_path / "state"
    command = [
        "run",
        str(batch.submission),
        "--consents",
        str(batch.consents),
        "--timeout",
        str(RUN_TIMEOUT_S),
    ]
    proc = subprocess.Popen(
        plant_command(command, config),
        env={**plant_env(state), **(env or {})},
        start_new_session=True,
        stdout=stdout,
        stderr=stderr,
        text=True,
    )
    return proc, state, config


def runs() -> list:
    """The ``run`` parameters of a fault test: 0 … FULL_RUNS-1, each marked ``faults``."""
    return [pytest.param(n, marks=pytest.mark.faults, id=f"run{n}") for n in range(max(FULL_RUNS, CI_RUNS))]


# -- the ledger, read plainly --------------------------------------------------------------------------------
def scalar(state: Path, sql: str, url: str | None = None):
    """One value of ``sql`` on the run's ledger (None when the ledger or its schema is not there yet)."""
    if url is None and not (state / "ledger.sqlite").exists():
        return None
    engine = create_engine(url or f"sqlite:///{state / 'ledger.sqlite'}")
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    except Exception:  # the schema may not exist yet, or the file is being created
        return None
    finally:
        engine.dispose()


def unfinished(state: Path, url: str | None = None) -> int | None:
    return scalar(
        state,
        "SELECT count(*) FROM letters WHERE state NOT IN "
        "('DISPATCHED','DELIVERED_DIGITAL','REJECTED','CANCELLED','PULLED','FAILED','UNACCOUNTED')",
        url,
    )


def last_final_at(state: Path, url: str | None = None) -> float | None:
    return scalar(state, "SELECT max(final_at) FROM letters", url)


#: Fault points: name → SQL whose count > 0 says the run got there.
POINTS = {
    "planned": "SELECT count(*) FROM print_jobs",
    "spooling": "SELECT count(*) FROM print_jobs WHERE state NOT IN ('PLANNED', 'IMPOSED', 'REPLANNED')",
    "printing": "SELECT count(*) FROM print_jobs WHERE state IN ('SPOOLED', 'PRINTED', 'DONE')",
    "inserting": "SELECT count(*) FROM insert_runs",
    "inserted": "SELECT count(*) FROM letters WHERE state IN ('INSERTED', 'DISPATCHED')",
}


@dataclass(frozen=True)
class Moment:
    """A seeded fault moment: once ``point`` is reached, ``delay_s`` more."""

    point: str
    delay_s: float

    def __str__(self) -> str:
        return f"{self.point}+{self.delay_s:.2f}s"


def moment(kind: str, run: int, points: tuple[str, ...] = tuple(POINTS)) -> Moment:
    """The fault moment of ``run`` of ``kind``: the same every time (seeded by both)."""
    rng = random.Random(f"{kind}/{run}")
    return Moment(rng.choice(points), round(rng.uniform(0.0, 1.5), 2))


def wait_for_moment(state: Path, at: Moment, proc: subprocess.Popen | None = None) -> None:
    """Return at ``at`` in the run in ``state``; fail when it does not come (or ``proc`` ended first)."""
    deadline = time.monotonic() + POINT_TIMEOUT_S
    while not (scalar(state, POINTS[at.point]) or 0) > 0:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {at.point}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {at.point}")
        time.sleep(0.05)
    time.sleep(at.delay_s)


# -- the results table ---------------------------------------------------------------------------------------
@dataclass
class Result:
    """One fault run: what was done, whether the checker held, and how long the plant took to heal."""

    fault: str
    run: int
    moment: str
    held: bool
    heal_s: float | None
    open_at_fault: int | None
    detail: str = ""


@dataclass
class Results:
    """Every fault run of the session, for the summary table."""

    items: list[Result] = field(default_factory=list)

    def table(self) -> str:
        kinds: dict[str, list[Result]] = {}
        for r in self.items:
            kinds.setdefault(r.fault, []).append(r)
        head = (
            f"{'fault':<34} {'runs':>4} {'held':>4} {'heal min':>8} {'median':>8} {'max':>8}  open at fault"
        )
        lines = [head, "-" * len(head)]
        for fault, items in kinds.items():
            heals = sorted(r.heal_s for r in items if r.heal_s is not None)
            opens = [r.open_at_fault for r in items if r.open_at_fault is not None]

            def fmt(v: float | None) -> str:
                return "-" if v is None else f"{v:.1f}s"

            median = heals[len(heals) // 2] if heals else None
            lines.append(
                f"{fault:<34} {len(items):>4} {sum(r.held for r in items):>4} "
                f"{fmt(heals[0] if heals else None):>8} {fmt(median):>8} "
                f"{fmt(heals[-1] if heals else None):>8}"
                f"  {min(opens) if opens else '-'}–{max(opens) if opens else '-'} of {LETTERS}"
            )
        failed = [r for r in self.items if not r.held]
        for r in failed:
            lines.append(f"DID NOT HOLD: {r.fault} run {r.run} at {r.moment}: {r.detail[:500]}")
        runs_ = "\n".join(
            f"  {r.fault} run{r.run} at {r.moment}: {'held' if r.held else 'FAILED'}, "
            f"heal {'-' if r.heal_s is None else f'{r.heal_s:.1f}s'}, open at fault {r.open_at_fault}"
            for r in self.items
        )
        return "\n".join(lines) + "\nper run:\n" + runs_


#: The session's results (filled by the tests, printed by conftest's terminal summary).
RESULTS = Results()
