"""The fault suite: CI keeps the first runs of every fault kind, ``-m faults`` runs the full counts; the table
of faults × runs × held × heal time is printed at the end of the session (and written to
``$PLANT_FAULT_TABLE`` when set)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.harness import CI_RUNS, RESULTS
from tests.plant.helpers import reap_redis


@pytest.fixture(autouse=True)
def no_leftover_redis(tmp_path):
    """Every fault test's embedded redis-server (in ``tmp_path/state``) is stopped after it, whatever
    happened."""
    yield
    reap_redis(tmp_path / "state")


def _full_counts(config: pytest.Config) -> bool:
    return "faults" in (config.getoption("markexpr", "") or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ``-m faults``, deselect (never skip: PLANT_TESTS_STRICT fails a skip) the fault runs past the
    first CI_RUNS of each kind."""
    if _full_counts(config):
        return
    keep, drop = [], []
    for item in items:
        run = getattr(item, "callspec", None) and item.callspec.params.get("run")
        if item.get_closest_marker("faults") is not None and isinstance(run, int) and run >= CI_RUNS:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not RESULTS.items:
        return
    table = RESULTS.table()
    terminalreporter.section("fault suite: faults x runs x held x heal time")
    terminalreporter.write_line(table)
    target = os.environ.get("PLANT_FAULT_TABLE")
    if target:
        Path(target).write_text(table + "\n")
