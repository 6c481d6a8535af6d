"""The checker sees what it claims to: a clean run holds; a sheet fed twice in a press's books, a tracking id
in two manifest rows and an envelope inserted twice are each named, with their ids."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from plant.demo import generate
from tests.faults.checker import check_run, device_books
from tests.faults.harness import FLEET
from tests.plant.helpers import run_submission


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One clean `plant run` of 16 letters (its state dir and config)."""
    folder = tmp_path_factory.mktemp("clean")
    batch = generate(folder / "in", 16, seed=5)
    state = run_submission(folder, batch.submission, FLEET)
    return state, folder / "plant.toml"


def append(path, record) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def test_checker_finds_each_kind_of_double(finished, tmp_path):
    state = tmp_path / "state"
    shutil.copytree(finished[0], state, ignore=shutil.ignore_patterns("*.sock"))
    config = finished[1]
    clean = check_run(state, config)
    assert clean.held, clean.summary()
    assert clean.press_sheets and clean.envelopes and clean.manifest_rows

    books = device_books(state)
    press = next(f for f, r in books.items() if any(x.get("kind") == "sheet" for x in r))
    sheet = next(r for r in books[press] if r.get("kind") == "sheet" and r.get("outcome") == "out")
    append(press / "books.jsonl", {**sheet, "seq": 10**6})
    inserter = next(f for f, r in books.items() if any(x.get("kind") == "envelope" for x in r))
    envelope = next(r for r in books[inserter] if r.get("outcome") == "inserted")
    append(inserter / "books.jsonl", {**envelope, "seq": 10**6})
    manifest = next((state / "manifests").rglob("*.csv"))
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with manifest.open("a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=list(rows[0])).writerow(rows[0])

    report = check_run(state, config, audit=False)
    kinds = {f.kind: f for f in report.findings}
    assert {"double_print", "envelope_unmapped", "manifest_twice"} <= set(kinds), report.summary()
    assert f"{sheet['job']} sheet {sheet['sheet']}" in " ".join(kinds["double_print"].ids)
    assert rows[0]["tracking_id"] in " ".join(kinds["manifest_twice"].ids)
    audited = check_run(state, config)
    assert audited.audit_exit == 1, audited.summary()  # plant audit sees the manifest row twice too
