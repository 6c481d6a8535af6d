"""Shared fixtures: a plant state dir per test, and small generated submissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plant.config import load_settings
from plant.demo import generate

# Numba caches compiled kernels; the suite must not write into the source tree or a read-only home.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "plant-numba-cache"))


@pytest.fixture
def settings(tmp_path):
    """Embedded-default settings with the state dir inside the test's temp dir."""
    return load_settings(environ={"PLANT_STATE_DIR": str(tmp_path / "state")})


@pytest.fixture
def small_batch(tmp_path):
    """A generated submission of 12 letters with its consent registry."""
    return generate(tmp_path / "in", 12, seed=7)
