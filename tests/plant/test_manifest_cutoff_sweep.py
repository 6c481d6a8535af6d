"""The day's last collection is closed at its cut-off by the timed sweep, without another dispatch (issue 12,
hole 6): every OPEN manifest past its cut-off is CLOSED and its files written atomically (the JSON says
CLOSED, the CSV keeps its bytes), once; a manifest closed whose files could not be written is written by
the next sweep; and a running plant does it by itself."""

from __future__ import annotations

import dataclasses
import importlib
import json

import pytest

from plant.config import load_settings
from plant.errors import DiskFull
from plant.ledger import schema as t
from plant.ledger.reads import manifest_list
from plant.runtime.sweeps import sweep_id
from plant.stages.sweep import run_sweep, sweep
from plant.testing import Clock, close_plant, open_plant, open_session, submit
from tests.plant.helpers import PHASE_TIMEOUT_S, wait_for
from tests.plant.test_manifests import EVENING, MORNING, at, csv_ids, file_of, seed

dispatch_stage = importlib.import_module("plant.stages.dispatch")

DAY_S = 86400.0


@pytest.fixture
def plant(settings, database_url):
    current = open_plant(dataclasses.replace(settings, database_url=database_url), devices=False)
    yield current
    close_plant(current)


def states(plant) -> dict[str, str]:
    with plant.ledger.read() as conn:
        return {m["manifest_id"]: m["state"] for m in manifest_list(conn)}


def json_state(plant, key: str) -> str | None:
    path = file_of(plant, key, ".json")
    return json.loads(path.read_text())["state"] if path.exists() else None


def evening_manifest(plant, monkeypatch) -> tuple[str, list[str]]:
    """Run RA's two pieces dispatched at 23:50: the evening's manifest, OPEN; its id and tracking ids."""
    made = seed(plant, {"RA": 2})
    at(monkeypatch, EVENING)
    dispatch_stage.dispatch("RA")
    key = dispatch_stage.manifest_id(plant.settings.postage.office, "standard", "2026-12-07")
    assert states(plant) == {key: "OPEN"} and json_state(plant, key) == "OPEN"
    return key, made["RA"]


def test_the_sweep_closes_the_last_collection_of_the_day_without_another_dispatch(plant, monkeypatch):
    key, tracking = evening_manifest(plant, monkeypatch)
    csv_before = file_of(plant, key).read_bytes()
    assert run_sweep(plant.ledger, plant.settings, EVENING + 60).closed == ()  # before the cut-off: open
    assert states(plant) == {key: "OPEN"} and json_state(plant, key) == "OPEN"

    result = run_sweep(plant.ledger, plant.settings, MORNING)
    assert result.closed == (key,)
    assert states(plant) == {key: "CLOSED"}
    document = json.loads(file_of(plant, key, ".json").read_text())
    assert document["state"] == "CLOSED" and document["closed_at"] == "2026-12-08T00:10:00+00:00"
    assert [i["tracking_id"] for i in document["items"]] == tracking
    assert file_of(plant, key).read_bytes() == csv_before and csv_ids(file_of(plant, key)) == tracking
    assert not list(plant.settings.manifests_dir.glob(".*"))  # no temporary file left beside them

    # again, or a dispatch after it: nothing more closed, no file changed, the closed manifest gains nothing
    files = {p.name: p.read_bytes() for p in plant.settings.manifests_dir.iterdir()}
    assert run_sweep(plant.ledger, plant.settings, MORNING + 60).closed == ()
    assert {p.name: p.read_bytes() for p in plant.settings.manifests_dir.iterdir()} == files
    seed(plant, {"RB": 1})
    at(monkeypatch, MORNING + 120)
    dispatch_stage.dispatch("RB")
    assert csv_ids(file_of(plant, key)) == tracking and states(plant)[key] == "CLOSED"


def test_the_sweep_actor_closes_it_too(plant, monkeypatch):
    key, _ = evening_manifest(plant, monkeypatch)
    sweep(sweep_id(MORNING))
    assert states(plant) == {key: "CLOSED"} and json_state(plant, key) == "CLOSED"


def test_files_not_written_at_the_close_are_written_by_the_next_sweep(plant, monkeypatch):
    key, tracking = evening_manifest(plant, monkeypatch)
    real = dispatch_stage.atomic_write

    def full(path, data):
        raise DiskFull(path, len(data))

    monkeypatch.setattr(dispatch_stage, "atomic_write", full)
    assert run_sweep(plant.ledger, plant.settings, MORNING).closed == (key,)  # no exception: logged
    assert states(plant) == {key: "CLOSED"} and json_state(plant, key) == "OPEN"
    monkeypatch.setattr(dispatch_stage, "atomic_write", real)
    assert run_sweep(plant.ledger, plant.settings, MORNING + 60).closed == ()
    assert json_state(plant, key) == "CLOSED" and csv_ids(file_of(plant, key)) == tracking


@pytest.mark.slow
@pytest.mark.usefixtures("no_leftover_redis")
def test_a_running_plant_closes_its_manifests_at_the_cut_off_by_itself(tmp_path, small_batch):
    """A session sweeping every second: its batch dispatched, then its clock a day on — the plant closes the
    day's manifests itself (no dispatch after the cut-off) and their JSON files say so."""
    config = tmp_path / "plant.toml"
    config.write_text("[sweeps]\ninterval_s = 1\n")
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})
    clock = Clock()
    with open_session(settings, config, clock) as session:
        submission = submit(session, small_batch.submission)
        session.wait([submission], timeout=PHASE_TIMEOUT_S)
        ledger = session.plant.ledger
        with ledger.read() as conn:
            found = {m["manifest_id"]: m["state"] for m in manifest_list(conn)}
            dispatched = conn.execute(t.letters.select().where(t.letters.c.state == "DISPATCHED")).all()
        assert dispatched and found and set(found.values()) == {"OPEN"}

        clock.advance(DAY_S + 3600)  # past every cut-off of the dispatches just made

        def closed() -> bool:
            with ledger.read() as conn:
                now_states = {m["manifest_id"]: m["state"] for m in manifest_list(conn)}
            folder = settings.manifests_dir
            return set(now_states.values()) == {"CLOSED"} and all(
                json.loads(dispatch_stage.manifest_path(folder, key, ".json").read_text())["state"]
                == "CLOSED"
                for key in now_states
            )

        wait_for(closed, "the manifests closed by the sweep")
