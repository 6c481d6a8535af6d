"""End-to-end pages/s for 1,000 letters on the embedded defaults (real redis-server, SQLite, devices at
time_scale 0, one worker process). Letter generation is outside the timed part."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from plant.demo import generate

LETTERS = 1000
_round = itertools.count()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("bench-in"), LETTERS, seed=21)


def test_pipeline_1000_letters(benchmark, batch, tmp_path):
    """`plant run` of 1,000 letters (≈2,500 pages, ~70 % printed) from submission to receipts."""
    states = []

    def run():
        state = tmp_path / f"state-{next(_round)}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLANT_")} | {
            "PLANT_STATE_DIR": str(state)
        }
        subprocess.run(
            [sys.executable, "-m", "plant", "run", str(batch.submission), "--consents", str(batch.consents)],
            env=env,
            check=True,
            capture_output=True,
            timeout=1800,
        )
        states.append(state)

    benchmark.pedantic(run, rounds=1, iterations=1)
    engine = create_engine(f"sqlite:///{Path(states[-1]) / 'ledger.sqlite'}")
    with engine.connect() as conn:
        printed = conn.execute(
            text("SELECT coalesce(sum(pages), 0) FROM letters WHERE state = 'DISPATCHED'")
        ).scalar()
        total = conn.execute(text("SELECT sum(pages) FROM letters")).scalar()
    engine.dispose()
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update(
        {
            "letters": LETTERS,
            "pages_submitted": total,
            "pages_printed": printed,
            "pages_per_s_submitted": round(total / seconds, 1),
            "pages_per_s_printed": round(printed / seconds, 1),
        }
    )
    assert printed > 0
