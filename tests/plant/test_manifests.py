"""Issue 12, hole 6: the handover manifest is derived from the ledger — a manifest per post office, mail class
and collection, closed at its cut-off — and its files are written under the manifest's lock, so two
dispatches of the same manifest can never lose each other's pieces, and a closed manifest never changes. On
SQLite and on a real PostgreSQL."""

from __future__ import annotations

import csv
import dataclasses
import importlib
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from plant.ledger import schema as t
from plant.ledger import schema_dispatch as td
from plant.ledger.reads import manifest_list
from plant.testing import close_plant, open_plant

#: The stage's module (``plant.stages`` exports the stage function under the same name).
stage = importlib.import_module("plant.stages.dispatch")
#: 23:50 UTC on a day, and 00:10 UTC the next (after the day's cut-off).
EVENING = datetime(2026, 12, 7, 23, 50, tzinfo=UTC).timestamp()
MORNING = datetime(2026, 12, 8, 0, 10, tzinfo=UTC).timestamp()
#: How long the first writer waits, between rendering its rows and writing its file, for the second dispatch.
STALL_S = 1.5


@pytest.fixture
def plant(settings, database_url):
    current = open_plant(dataclasses.replace(settings, database_url=database_url), devices=False)
    yield current
    close_plant(current)


def seed(plant, runs: dict[str, int], mail_class: str = "standard") -> dict[str, list[str]]:
    """Letters INSERTED with their pieces in ``runs`` (run id → pieces); the tracking ids per run."""
    made: dict[str, list[str]] = {}
    with plant.ledger.tx() as conn:
        submission = f"S-{mail_class}-{'-'.join(runs)}"
        conn.execute(
            insert(t.submissions).values(
                submission_id=submission, source="test", received_at=EVENING, letters=sum(runs.values())
            )
        )
        for run_id, count in runs.items():
            for n in range(count):
                letter = f"{run_id}-{n}"
                pk = conn.execute(
                    insert(t.letters)
                    .values(
                        submission_id=submission,
                        letter_id=letter,
                        recipient_id=letter,
                        name=f"Recipient {letter}",
                        address_1="1 Street",
                        address_2="",
                        postcode="101000",
                        city="Town",
                        country="ZZ",
                        mail_class=mail_class,
                        state="INSERTED",
                        received_at=EVENING,
                        updated_at=EVENING,
                    )
                    .returning(t.letters.c.pk)
                ).scalar_one()
                tracking = f"TR{run_id}{n:03d}{mail_class[:2].upper()}"
                conn.execute(
                    insert(t.pieces).values(
                        letter_pk=pk, tracking_id=tracking, sheets=1, mass_g=10.0, run_id=run_id, prints=1
                    )
                )
                made.setdefault(run_id, []).append(tracking)
    return made


def at(monkeypatch, stamp: float) -> None:
    """The dispatch stage's clock reads ``stamp``."""
    monkeypatch.setattr(stage, "now", lambda: stamp)


def csv_ids(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row["tracking_id"] for row in csv.DictReader(handle)]


def every_csv_id(plant) -> list[str]:
    return [i for path in sorted(plant.settings.manifests_dir.glob("*.csv")) for i in csv_ids(path)]


def manifests(plant) -> dict[str, dict]:
    with plant.ledger.read() as conn:
        return {m["manifest_id"]: m for m in manifest_list(conn)}


def file_of(plant, key: str, suffix: str = ".csv") -> Path:
    return stage.manifest_path(plant.settings.manifests_dir, key, suffix)


def ledger_rows(plant, table) -> int:
    with plant.ledger.read() as conn:
        return len(conn.execute(select(table)).all())


def test_two_dispatches_interleaved_at_the_worst_point_keep_every_piece(plant, monkeypatch):
    """Run A's writer has rendered its rows and is about to write the file when run B (same day, same class)
    is dispatched: B waits for A's lock, so A's file goes in first and B's — with every piece — after it.
    (Without the lock B writes six rows and A then puts back its three.)"""
    at(monkeypatch, EVENING)
    made = seed(plant, {"RA": 3, "RB": 3})
    real_write = stage.atomic_write
    main = threading.current_thread()
    other: list[threading.Thread] = []
    b_done = threading.Event()
    errors: list[BaseException] = []
    finished_during_stall: list[bool] = []

    def run_b() -> None:
        try:
            stage.dispatch("RB")
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)
        finally:
            b_done.set()

    def stalled_write(path, data):
        if threading.current_thread() is main and not other:
            thread = threading.Thread(target=run_b)
            other.append(thread)
            thread.start()
            finished_during_stall.append(b_done.wait(STALL_S))
        real_write(path, data)

    monkeypatch.setattr(stage, "atomic_write", stalled_write)
    stage.dispatch("RA")
    other[0].join(60)
    assert not other[0].is_alive() and not errors
    assert finished_during_stall == [False]  # B waited for the manifest's lock
    ids = every_csv_id(plant)
    assert sorted(ids) == sorted(made["RA"] + made["RB"])  # every piece, once
    (key,) = manifests(plant)
    assert csv_ids(file_of(plant, key)) == made["RA"] + made["RB"]
    document = json.loads(file_of(plant, key, ".json").read_text())
    assert [i["sequence"] for i in document["items"]] == list(range(1, 7))
    assert [i["tracking_id"] for i in document["items"]] == made["RA"] + made["RB"]
    assert manifests(plant)[key]["pieces"] == 6


def test_a_dispatch_after_the_cut_off_goes_into_the_next_manifest(plant, monkeypatch):
    """The evening's manifest is closed by the first dispatch after midnight; its CSV keeps its bytes, the new
    pieces are in the next day's manifest, and a redelivered dispatch changes nothing."""
    made = seed(plant, {"RA": 2, "RB": 2})
    office = plant.settings.postage.office
    evening = stage.manifest_id(office, "standard", "2026-12-07")
    morning = stage.manifest_id(office, "standard", "2026-12-08")
    at(monkeypatch, EVENING)
    stage.dispatch("RA")
    closed_csv = file_of(plant, evening).read_bytes()
    assert manifests(plant)[evening]["state"] == "OPEN"

    at(monkeypatch, MORNING)
    stage.dispatch("RB")
    found = manifests(plant)
    assert (found[evening]["state"], found[evening]["pieces"]) == ("CLOSED", 2)
    assert (found[morning]["state"], found[morning]["pieces"]) == ("OPEN", 2)
    assert file_of(plant, evening).read_bytes() == closed_csv
    assert csv_ids(file_of(plant, morning)) == made["RB"]
    closed_json = json.loads(file_of(plant, evening, ".json").read_text())
    assert closed_json["state"] == "CLOSED" and closed_json["cutoff_at"] == "2026-12-08T00:00:00+00:00"

    # redelivered: no row, event or message more, the files as they were
    before = {p.name: p.read_bytes() for p in plant.settings.manifests_dir.iterdir()}
    counts = [ledger_rows(plant, table) for table in (t.manifest_items, t.events, t.outbox)]
    stage.dispatch("RA")
    stage.dispatch("RB")
    assert {p.name: p.read_bytes() for p in plant.settings.manifests_dir.iterdir()} == before
    assert [ledger_rows(plant, table) for table in (t.manifest_items, t.events, t.outbox)] == counts
    assert sorted(every_csv_id(plant)) == sorted(made["RA"] + made["RB"])


def test_a_closed_manifest_is_never_reopened_by_a_clock_behind(plant, monkeypatch):
    """A plant whose clock is still before midnight after another closed the evening's manifest puts its
    pieces into the next open one; the closed file keeps its bytes."""
    made = seed(plant, {"RA": 1, "RB": 1, "RC": 2})
    office = plant.settings.postage.office
    evening = stage.manifest_id(office, "standard", "2026-12-07")
    morning = stage.manifest_id(office, "standard", "2026-12-08")
    at(monkeypatch, EVENING)
    stage.dispatch("RA")
    at(monkeypatch, MORNING)
    stage.dispatch("RB")
    closed_csv = file_of(plant, evening).read_bytes()
    at(monkeypatch, EVENING + 300)  # behind
    stage.dispatch("RC")
    assert file_of(plant, evening).read_bytes() == closed_csv
    assert csv_ids(file_of(plant, evening)) == made["RA"]
    assert csv_ids(file_of(plant, morning)) == made["RB"] + made["RC"]
    assert manifests(plant)[evening]["pieces"] == 1


def test_each_mail_class_has_its_own_manifest_and_a_piece_is_in_one(plant, monkeypatch):
    """Two classes dispatched at once: two manifests; the ledger refuses a piece in a second manifest."""
    at(monkeypatch, EVENING)
    first = seed(plant, {"RA": 2}, "standard")
    second = seed(plant, {"RB": 2}, "priority")
    stage.dispatch("RA")
    stage.dispatch("RB")
    classes = sorted((m["mail_class"], m["pieces"]) for m in manifests(plant).values())
    assert classes == [("priority", 2), ("standard", 2)]
    assert sorted(every_csv_id(plant)) == sorted(first["RA"] + second["RB"])
    with plant.ledger.read() as conn:
        item = conn.execute(select(t.manifest_items).limit(1)).one()
    with pytest.raises(IntegrityError), plant.ledger.tx() as conn:
        conn.execute(insert(t.manifest_items).values({**item._asdict(), "manifest": "elsewhere", "seq": 1}))


def test_manifest_file_names_never_collide():
    """An id with characters unfit for a file name gets its hash: ``a/b`` and ``a_b`` are two files."""
    folder = Path("/m")
    assert stage.manifest_path(folder, "2026-12-07-standard-000000").name == "2026-12-07-standard-000000.csv"
    assert stage.manifest_path(folder, "x-a/b") != stage.manifest_path(folder, "x-a_b")
    assert stage.manifest_path(folder, "x-a/b").parent == folder
    assert stage.manifest_path(folder, "..").parent == folder
    assert len(stage.manifest_id("o" * 64, "c" * 32, "2026-12-07")) <= stage.ID_LENGTH


def test_a_file_with_more_rows_than_the_ledger_is_never_replaced(plant, monkeypatch):
    """A manifest file holding more pieces than the ledger renders is left alone (a file only grows)."""
    at(monkeypatch, EVENING)
    seed(plant, {"RA": 1})
    key = stage.manifest_id(plant.settings.postage.office, "standard", "2026-12-07")
    ahead = b"sequence,tracking_id\n1,X1\n2,X2\n"
    file_of(plant, key).write_bytes(ahead)
    stage.dispatch("RA")
    assert file_of(plant, key).read_bytes() == ahead
    assert manifests(plant)[key]["pieces"] == 1


def test_a_manifest_from_before_the_table_is_still_written(plant, monkeypatch):
    """Rows of a manifest the ledger has no ``manifests`` row for (dispatched before the table existed): a
    redelivered dispatch writes its CSV again, from the ledger, under the old name."""
    made = seed(plant, {"RA": 2})
    at(monkeypatch, EVENING)
    stage.dispatch("RA")
    key = stage.manifest_id(plant.settings.postage.office, "standard", "2026-12-07")
    with plant.ledger.tx() as conn:
        conn.execute(t.manifest_items.update().values(manifest="2026-12-07-standard"))
        conn.execute(td.manifests.delete())
    file_of(plant, key).unlink()
    stage.dispatch("RA")
    assert csv_ids(plant.settings.manifests_dir / "2026-12-07-standard.csv") == made["RA"]
    assert not (plant.settings.manifests_dir / "2026-12-07-standard.json").exists()


def test_a_dispatch_on_a_full_disk_sends_itself_again_and_writes_the_files_when_there_is_room(
    settings, monkeypatch
):
    """The manifests folder on a full tmpfs (SQLite: the disk, not the ledger, is the point): the pieces are
    DISPATCHED in the ledger, no half file is left, and the stage sends itself again after a back-off (never a
    dead letter); with room, the repeated message writes the manifest with every piece once."""
    from tests.plant.test_disk_full import fill, leftovers, mount_tmpfs, unmount

    plant = open_plant(settings, devices=False)
    made = seed(plant, {"RF": 3})
    folder = plant.settings.manifests_dir
    folder.mkdir(parents=True, exist_ok=True)
    mount_tmpfs(folder)
    try:
        ballast = fill(folder)
        at(monkeypatch, EVENING)
        stage.dispatch("RF")
        assert plant.sent == [("dispatch", ("RF",))]
        states = [r.state for r in plant_rows(plant, select(t.letters.c.state))]
        assert states == ["DISPATCHED"] * 3
        assert [p.name for p in folder.iterdir() if p.is_file() and p != ballast] == []
        assert leftovers(folder) == []
        ballast.unlink()
        stage.dispatch("RF")  # the repeated message
        assert sorted(every_csv_id(plant)) == sorted(made["RF"])
    finally:
        unmount(folder)
        close_plant(plant)


def plant_rows(plant, statement):
    with plant.ledger.read() as conn:
        return conn.execute(statement).all()
