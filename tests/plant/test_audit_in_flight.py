"""`plant audit` while the plant runs: a letter not final yet but younger than the stale age is in flight —
listed apart, no finding, exit 0 —; past the stale age it is stuck, a finding (exit 1 naming it). The default
stale age follows ``[recovery]``: the time its sweep takes to re-derive and end stranded work."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, update

from plant.cli import main
from plant.ledger import Ledger, append_event
from plant.ledger import schema as t
from plant.ledger.audit import STALE_AFTER_S, stale_age
from tests.plant.test_audit import NOW, letter

RECOVERY = "[recovery]\nstale_after_s = {stale}\nmax_rederive = {most}\n"


@pytest.fixture
def running(tmp_path, database_url, monkeypatch):
    """Submission S1 of four letters: L1 DISPATCHED (in a manifest), L2 PRINTED, L3 SPOOLED and L4 RECEIVED,
    the last three just moved — a plant at work. Yields (ledger, config path)."""
    state = tmp_path / "state"
    config = tmp_path / "plant.toml"
    config.write_text(RECOVERY.format(stale=600, most=3))
    monkeypatch.setenv("PLANT_STATE_DIR", str(state))
    monkeypatch.setenv("PLANT_DATABASE_URL", database_url)
    ledger = Ledger(database_url)
    with ledger.tx() as conn:
        conn.execute(
            insert(t.submissions).values(submission_id="S1", source="test", received_at=NOW, letters=4)
        )
        conn.execute(
            insert(t.letters),
            [
                letter(1, "L1", "DISPATCHED"),
                letter(2, "L2", "PRINTED"),
                letter(3, "L3", "SPOOLED"),
                letter(4, "L4", "RECEIVED"),
            ],
        )
        conn.execute(
            insert(t.pieces),
            [
                dict(piece_id=1, letter_pk=1, tracking_id="RR000000011DE", sheets=1, mass_g=5.0),
                dict(piece_id=2, letter_pk=2, tracking_id="RR000000025DE", sheets=1, mass_g=5.0),
                dict(piece_id=3, letter_pk=3, tracking_id="RR000000039DE", sheets=1, mass_g=5.0),
            ],
        )
        conn.execute(
            insert(t.manifest_items).values(
                manifest="day-standard", seq=1, piece_id=1, tracking_id="RR000000011DE", recipient="Name 1",
                postcode="10115", sheets=1, mass_g=5.0,
            )
        )  # fmt: skip
        append_event(conn, "submission", "S1", "accept", data={"letters": 4})
    manifests = state / "manifests"
    manifests.mkdir(parents=True)
    (manifests / "day-standard.csv").write_text(
        "sequence,tracking_id,recipient,postcode,sheets,weight_g\n1,RR000000011DE,Name 1,10115,1,5.0\n"
    )
    yield ledger, config
    ledger.dispose()


def audit(capsys, config, *args: str) -> tuple[int, dict]:
    code = main(["--config", str(config), "audit", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def age(ledger, letter_id: str, seconds: float) -> None:
    with ledger.tx() as conn:
        conn.execute(
            update(t.letters).where(t.letters.c.letter_id == letter_id).values(updated_at=NOW - seconds)
        )


def test_letters_in_flight_are_reported_apart_and_are_no_finding(running, capsys):
    ledger, config = running
    code, report = audit(capsys, config, "--all")
    assert code == 0 and report["ok"] and report["findings"] == []
    assert {i["id"]: i["state"] for i in report["in_flight"]} == {
        "L2": "PRINTED",
        "L3": "SPOOLED",
        "L4": "RECEIVED",
    }
    assert {i["id"]: i["tracking_id"] for i in report["in_flight"]}["L3"] == "RR000000039DE"
    (balance,) = report["submissions"]
    assert (balance["open"], balance["in_flight"], balance["balanced"]) == (3, 3, True)
    assert main(["--config", str(config), "audit", "S1"]) == 0
    text = capsys.readouterr().out
    assert "3 letter(s) still in flight (PRINTED 1, RECEIVED 1, SPOOLED 1)" in text and "NOT" not in text


def test_a_letter_in_flight_past_the_stale_age_is_a_finding_naming_it(running, capsys):
    ledger, config = running
    age(ledger, "L3", STALE_AFTER_S + 60)
    code, report = audit(capsys, config, "--all")
    assert code == 1 and not report["ok"]
    assert [(f["kind"], f["id"]) for f in report["findings"]] == [("stuck", "L3")]
    assert {i["id"] for i in report["in_flight"]} == {"L2", "L4"}
    (balance,) = report["submissions"]
    assert (balance["open"], balance["in_flight"], balance["balanced"]) == (3, 2, False)
    assert main(["--config", str(config), "audit", "--all"]) == 1
    text = capsys.readouterr().out
    assert "NOT balanced" in text and "stuck" in text and "L3" in text and "plant status L3" in text


def test_the_stale_age_follows_the_recovery_sweep(running, capsys):
    """With [recovery] stale_after_s = 1800 and max_rederive = 3, the sweep may take two hours to end stranded
    work: a letter 1.5 h still is in flight, one 2.5 h still is stuck; --stale-after overrides."""
    ledger, config = running
    config.write_text(RECOVERY.format(stale=1800, most=3))
    assert stale_age(1800, 3) == 7200 and stale_age(600, 3) == STALE_AFTER_S
    age(ledger, "L2", 1.5 * 3600)
    age(ledger, "L3", 2.5 * 3600)
    code, report = audit(capsys, config, "S1")
    assert code == 1 and report["stale_after_s"] == 7200
    assert [f["id"] for f in report["findings"]] == ["L3"] and "L2" in {i["id"] for i in report["in_flight"]}
    code, report = audit(capsys, config, "S1", "--stale-after", str(3 * 3600))
    assert code == 0 and report["findings"] == []


def test_a_job_sent_again_after_its_printer_lost_it_is_no_double_hand_over(running, capsys):
    """A job SPOOLED, lost by a printer that proves it never had it (SPOOLED → SPOOLING) and SPOOLED again,
    or parked and reprinted by an operator, was given back in between; a third hand-over is a double."""
    ledger, config = running
    with ledger.tx() as conn:
        append_event(conn, "job", "J1", "spool", "SPOOLING", "SPOOLED", {"printer": "press-1"})
        append_event(conn, "job", "J1", "printer_no_record", "SPOOLED", "SPOOLING")
        append_event(conn, "job", "J1", "spool", "SPOOLING", "SPOOLED", {"printer": "press-1"})
        append_event(conn, "job", "J2", "spool", "SPOOLING", "SPOOLED", {"printer": "press-1"})
        append_event(conn, "job", "J2", "parked", "SPOOLED", "PARKED")
        append_event(conn, "job", "J2", "operator_reprint", "PARKED", "SPOOLING")
        append_event(conn, "job", "J2", "spool", "SPOOLING", "SPOOLED", {"printer": "press-1"})
    code, report = audit(capsys, config, "--all")
    assert code == 0 and report["findings"] == []
    with ledger.tx() as conn:
        append_event(conn, "job", "J1", "spool", "SPOOLING", "SPOOLED", {"printer": "press-1"})
    code, report = audit(capsys, config, "--all")
    assert code == 1 and [(f["kind"], f["id"]) for f in report["findings"]] == [
        ("duplicate_device_job", "J1")
    ]
