"""Start-up of the command line (issue "The house", point 6: a command line that starts at once).

What a person runs — the real ``plant`` console script in a fresh process — beside the bare floor it cannot
beat, timed in the same run:

* ``plant --help`` beside ``python -c pass``;
* ``plant status ID`` on a small ledger (20 letters accepted) beside ``python -c "import sqlalchemy"``: the
  ledger is read through SQLAlchemy, so its import is the floor;
* ``plant plan`` of the 200-job reference instance with ``--time-limit 1`` (the planner's own second) and
  ``--time-limit 0`` (start, read, one list schedule, write) beside ``python -c "import numpy"``.

Goal: ``--help`` and ``status`` in ≤ 0.3 s. Each command's ``extra_info`` holds its best and median seconds,
the floor's best, and the ratio and difference of the two bests (for ``plan``, also the seconds beyond the
time limit). The processes cache their bytecode, as an installed plant does, in a temporary
``PYTHONPYCACHEPREFIX`` (not in the source tree); a warm-up round fills it.
Run: ``pytest benchmarks/test_cli.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plant.config import load_settings
from plant.demo import generate
from plant.intake.submission import intake
from plant.ledger import Ledger
from plant.scheduling.model import instance_to_json
from plant.scheduling.reference import reference_instance

#: The console script of this environment, and its interpreter.
PLANT = str(Path(sys.executable).with_name("plant"))
PYTHON = sys.executable
#: Wall seconds ``plant --help`` and ``plant status ID`` may take.
GOAL_S = 0.3
#: Rounds per start-up measurement (each a fresh process); the planner's are fewer, each takes a second.
ROUNDS = 20
#: Best seconds of each floor, for the ratios of the commands measured after it.
FLOORS: dict[str, float] = {}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The environment of every process: a state dir whose ledger holds 20 accepted letters, no other PLANT_
    setting, and bytecode cached outside the source tree."""
    root = tmp_path_factory.mktemp("cli")
    settings = load_settings(environ={"PLANT_STATE_DIR": str(root / "state")})
    settings.state_dir.mkdir(parents=True)
    ledger = Ledger(settings.ledger_url)
    try:
        intake(ledger, settings, generate(root / "in", 20, seed=5).submission)
    finally:
        ledger.dispose()
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("PLANT_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return environment | {
        "PLANT_STATE_DIR": str(settings.state_dir),
        "PYTHONPYCACHEPREFIX": str(root / "pyc"),
    }


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """INSTANCE.json of the 200-job reference instance (seed 0)."""
    path = tmp_path_factory.mktemp("plan") / "instance.json"
    path.write_text(json.dumps(instance_to_json(reference_instance(0))), encoding="utf-8")
    return path


def measure(benchmark, env: dict, command: list[str], rounds: int = ROUNDS) -> float:
    """Time ``command`` as a fresh process (it must exit 0); its best and median seconds into
    ``extra_info``."""

    def run():
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    benchmark.pedantic(run, rounds=rounds, warmup_rounds=1, iterations=1)
    stats = benchmark.stats.stats
    benchmark.extra_info.update({"min_s": round(stats.min, 4), "median_s": round(stats.median, 4)})
    return stats.min


def floor(benchmark, env: dict, code: str, rounds: int = ROUNDS) -> None:
    """Time ``python -c CODE`` and remember its best for the command measured beside it."""
    FLOORS[code] = measure(benchmark, env, [PYTHON, "-c", code], rounds)


def beside(benchmark, best: float, code: str, goal_s: float | None = GOAL_S) -> None:
    """The command's best against the floor ``python -c CODE`` (when it was measured in this run)."""
    if goal_s is not None:
        benchmark.extra_info["goal_s"] = goal_s
    if code in FLOORS:
        benchmark.extra_info.update(
            {
                "floor": f"python -c {code!r}",
                "floor_min_s": round(FLOORS[code], 4),
                "ratio_to_floor": round(best / FLOORS[code], 2),
                "over_floor_ms": round(1000 * (best - FLOORS[code]), 1),
            }
        )


@pytest.mark.benchmark(group="plant --help")
def test_floor_python(benchmark, env):
    """The interpreter alone."""
    floor(benchmark, env, "pass")


@pytest.mark.benchmark(group="plant --help")
def test_help(benchmark, env):
    """``plant --help``: the parser of every command, nothing of what they run."""
    beside(benchmark, measure(benchmark, env, [PLANT, "--help"]), "pass")


@pytest.mark.benchmark(group="plant status")
def test_floor_sqlalchemy(benchmark, env):
    """The interpreter and SQLAlchemy."""
    floor(benchmark, env, "import sqlalchemy")


@pytest.mark.benchmark(group="plant status")
def test_status(benchmark, env):
    """``plant status L000003``: settings, the ledger opened read-only, one letter's history printed."""
    beside(benchmark, measure(benchmark, env, [PLANT, "status", "L000003"]), "import sqlalchemy")


@pytest.mark.benchmark(group="plant plan")
def test_floor_numpy(benchmark, env):
    """The interpreter and NumPy (the planner's arrays)."""
    floor(benchmark, env, "import numpy", rounds=10)


@pytest.mark.benchmark(group="plant plan")
@pytest.mark.parametrize("limit", [0, 1])
def test_plan(benchmark, env, instance, limit):
    """``plant plan INSTANCE.json --time-limit S`` of 200 jobs, PLAN.json to stdout: with 1 s, the seconds
    beyond the planner's budget are the start-up's."""
    command = [PLANT, "plan", str(instance), "--time-limit", str(limit)]
    best = measure(benchmark, env, command, rounds=3 if limit else 10)
    beside(benchmark, best, "import numpy", goal_s=None)
    benchmark.extra_info.update(
        {"jobs": 200, "time_limit_s": limit, "over_time_limit_s": round(best - limit, 4)}
    )
