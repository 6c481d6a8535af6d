"""`plant audit`: the reconciliation of a ledger built state by state, and the tamper-evident event chain, on
SQLite and PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from plant.cli import main
from plant.ledger import Ledger, append_event
from plant.ledger import schema as t
from plant.ledger.audit import GENESIS, STALE_AFTER_S, load_chain

NOW = time.time()


def letter(pk: int, letter_id: str, state: str, at: float = NOW) -> dict:
    return dict(
        pk=pk,
        submission_id="S1",
        letter_id=letter_id,
        recipient_id=f"R{pk}",
        name=f"Name {pk}",
        address_1="Street 1",
        address_2="",
        postcode="10115",
        city="Berlin",
        country="DE",
        mail_class="standard",
        state=state,
        received_at=at,
        updated_at=at,
    )


@pytest.fixture
def audited(tmp_path, database_url, monkeypatch):
    """A balanced ledger: submission S1 of three letters — L1 printed by job J000001, inserted by run
    R000001 and DISPATCHED in a manifest file; L2 DELIVERED_DIGITAL; L3 REJECTED — and the environment of
    a `plant` command on it. Yields the ledger."""
    state = tmp_path / "state"
    monkeypatch.setenv("PLANT_STATE_DIR", str(state))
    monkeypatch.setenv("PLANT_DATABASE_URL", database_url)
    ledger = Ledger(database_url)
    with ledger.tx() as conn:
        conn.execute(
            insert(t.submissions).values(submission_id="S1", source="test", received_at=NOW, letters=3)
        )
        conn.execute(
            insert(t.letters),
            [
                letter(1, "L1", "DISPATCHED"),
                letter(2, "L2", "DELIVERED_DIGITAL"),
                letter(3, "L3", "REJECTED"),
            ],
        )
        conn.execute(
            insert(t.pieces).values(
                piece_id=1, letter_pk=1, tracking_id="RR000000011DE", sheets=1, mass_g=5.0, job_id="J000001"
            )
        )
        conn.execute(
            insert(t.print_jobs).values(
                job_id="J000001", submission_id="S1", printer="press-1", state="DONE", pieces=1,
                created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        conn.execute(
            insert(t.insert_runs).values(
                run_id="R000001", job_id="J000001", inserter="ins-1", state="RECONCILED", created_at=NOW,
                updated_at=NOW,
            )
        )  # fmt: skip
        conn.execute(
            insert(t.manifest_items).values(
                manifest="day-standard", seq=1, piece_id=1, tracking_id="RR000000011DE", recipient="Name 1",
                postcode="10115", sheets=1, mass_g=5.0,
            )
        )  # fmt: skip
        append_event(conn, "submission", "S1", "accept", data={"letters": 3})
        append_event(conn, "job", "J000001", "spool_claim", "IMPOSED", "SPOOLING")
        append_event(conn, "job", "J000001", "spool", "SPOOLING", "SPOOLED", {"printer": "press-1"})
        append_event(conn, "run", "R000001", "submit", "SUBMITTING", "SUBMITTED", {"inserter": "ins-1"})
        append_event(conn, "letter", "1", "dispatch", "INSERTED", "DISPATCHED", {"run": "R000001"})
        append_event(conn, "letter", "2", "deliver_digital", "DIGITAL", "DELIVERED_DIGITAL")
        append_event(conn, "letter", "3", "reject", "RECEIVED", "REJECTED", {"code": "NOT_PDF"})
    manifests = state / "manifests"
    manifests.mkdir(parents=True)
    (manifests / "day-standard.csv").write_text(
        "sequence,tracking_id,recipient,postcode,sheets,weight_g\n1,RR000000011DE,Name 1,10115,1,5.0\n"
    )
    yield ledger
    ledger.dispose()


def audit(capsys, *args: str) -> tuple[int, dict]:
    """Run `plant audit ARGS --json` in this process: its exit code and report."""
    code = main(["audit", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def named(report: dict, kind: str) -> set[str]:
    return {f["id"] for f in report["findings"] if f["kind"] == kind}


def event_ids(ledger: Ledger) -> list[int]:
    with ledger.read() as conn:
        return list(conn.execute(select(t.events.c.id).order_by(t.events.c.chain_seq)).scalars())


# -- the balance -------------------------------------------------------------------------------------------
def test_a_ledger_where_every_letter_ended_once_balances(audited, capsys):
    code, report = audit(capsys, "--all", "--verify-chain")
    assert code == 0 and report["ok"] and report["findings"] == []
    (balance,) = report["submissions"]
    assert balance["inputs"] == balance["recorded"] == 3 and balance["open"] == 0 and balance["balanced"]
    assert balance["finals"]["DISPATCHED"] == balance["finals"]["DELIVERED_DIGITAL"] == 1
    assert report["chain"]["ok"] and report["chain"]["events"] == 7
    assert main(["audit", "S1"]) == 0
    assert "Balanced: 1 submissions" in capsys.readouterr().out


def test_a_letter_left_in_a_state_that_is_not_final_does_not_balance(audited, capsys):
    with audited.tx() as conn:
        conn.execute(update(t.letters).where(t.letters.c.letter_id == "L2").values(state="PRINTED"))
    code, report = audit(capsys, "S1")  # younger than the stale age: in flight, no finding
    assert code == 0 and report["findings"] == [] and report["submissions"][0]["open"] == 1
    assert [i["id"] for i in report["in_flight"]] == ["L2"]
    with audited.tx() as conn:  # the same letter, untouched for longer than the stale age
        conn.execute(
            update(t.letters).where(t.letters.c.letter_id == "L2").values(updated_at=NOW - STALE_AFTER_S - 60)
        )
    code, report = audit(capsys, "--all")
    assert code == 1 and named(report, "stuck") == {"L2"}
    assert main(["audit", "--all"]) == 1
    text_out = capsys.readouterr().out
    assert "NOT balanced" in text_out and "L2" in text_out and "stuck" in text_out


def test_a_letter_missing_from_the_ledger_does_not_balance(audited, capsys):
    with audited.tx() as conn:
        conn.execute(update(t.submissions).values(letters=4))
    code, report = audit(capsys)
    assert code == 1 and named(report, "missing") == {"S1"}


def test_a_tracking_id_twice_in_the_manifests_is_named(audited, capsys, tmp_path):
    manifest = tmp_path / "state" / "manifests" / "day-standard.csv"
    manifest.write_text(manifest.read_text() + "2,RR000000011DE,Name 1,10115,1,5.0\n")
    code, report = audit(capsys, "--all")
    assert code == 1 and named(report, "duplicate_tracking") == {"RR000000011DE"}


def test_a_dispatched_piece_in_no_manifest_file_is_named(audited, capsys, tmp_path):
    (tmp_path / "state" / "manifests" / "day-standard.csv").unlink()
    code, report = audit(capsys, "S1")
    assert code == 1 and named(report, "unmanifested") == {"RR000000011DE"}


def test_a_stuck_job_and_run_are_named_past_the_stale_age_only(audited, capsys):
    old = NOW - 2 * 3600
    with audited.tx() as conn:
        conn.execute(
            insert(t.print_jobs).values(
                job_id="J000002", submission_id="S1", printer="press-1", state="SPOOLED", pieces=0,
                created_at=old, updated_at=old,
            )
        )  # fmt: skip
        conn.execute(
            insert(t.insert_runs).values(
                run_id="R000002", job_id="J000002", inserter="ins-1", state="SUBMITTED", created_at=old,
                updated_at=old,
            )
        )  # fmt: skip
    code, report = audit(capsys, "S1")
    assert (
        code == 1 and named(report, "stuck_job") == {"J000002"} and named(report, "stuck_run") == {"R000002"}
    )
    code, report = audit(capsys, "S1", "--stale-after", str(3 * 3600))
    assert code == 0 and report["findings"] == []


def test_a_device_job_handed_over_twice_is_named(audited, capsys):
    with audited.tx() as conn:
        append_event(conn, "job", "J000001", "spool", "SPOOLING", "SPOOLED", {"printer": "press-1"})
        # a run withdrawn (proven never started) and handed over again is no double
        append_event(conn, "run", "R000001", "withdrawn", "WITHDRAWING", "CREATED")
        append_event(conn, "run", "R000001", "submit", "SUBMITTING", "SUBMITTED", {"inserter": "ins-2"})
    code, report = audit(capsys, "S1")
    assert code == 1 and named(report, "duplicate_device_job") == {"J000001"}
    with audited.tx() as conn:
        append_event(conn, "run", "R000001", "submit", "SUBMITTING", "SUBMITTED", {"inserter": "ins-2"})
    code, report = audit(capsys, "S1")
    assert named(report, "duplicate_device_job") == {"J000001", "R000001"}


def test_an_unknown_submission_is_refused(audited, capsys):
    assert main(["audit", "S-none"]) == 66
    assert "No submission S-none" in capsys.readouterr().err


# -- the chain ---------------------------------------------------------------------------------------------
def test_every_event_is_chained_when_its_transaction_commits(audited):
    with audited.read() as conn:
        rows = conn.execute(select(t.events).order_by(t.events.c.chain_seq)).all()
        head = conn.execute(select(t.event_chain)).one()
    assert [r.chain_seq for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == GENESIS and all(
        b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False)
    )
    assert (head.seq, head.hash, head.event_id) == (len(rows), rows[-1].hash, rows[-1].id)


def test_an_edited_event_breaks_the_chain_at_that_event(audited, capsys):
    victim = event_ids(audited)[4]
    with audited.tx() as conn:
        conn.execute(update(t.events).where(t.events.c.id == victim).values(data={"run": "R999999"}))
    code, report = audit(capsys, "--verify-chain")
    assert (
        code == 1 and report["chain"]["first_bad_event"] == victim and "changed" in report["chain"]["problem"]
    )
    assert main(["audit", "--verify-chain"]) == 1
    assert f"BROKEN at event {victim}" in capsys.readouterr().out


def test_an_event_edited_with_its_hash_recomputed_still_breaks_the_chain(audited, capsys):
    from plant.ledger.audit import event_hash

    ids = event_ids(audited)
    with audited.tx() as conn:
        row = conn.execute(select(t.events).where(t.events.c.id == ids[2])).one()
        forged = SimpleNamespace(**{**row._asdict(), "to_state": "FAILED"})
        conn.execute(
            update(t.events)
            .where(t.events.c.id == ids[2])
            .values(to_state="FAILED", hash=event_hash(row.prev_hash, row.chain_seq, forged))
        )
    code, report = audit(capsys, "--verify-chain")
    assert code == 1 and report["chain"]["first_bad_event"] == ids[3]


def test_a_removed_event_breaks_the_chain(audited, capsys):
    ids = event_ids(audited)
    with audited.tx() as conn:
        conn.execute(delete(t.events).where(t.events.c.id == ids[3]))
    code, report = audit(capsys, "--verify-chain")
    assert code == 1 and report["chain"]["first_bad_event"] == ids[4]


def test_the_last_event_removed_breaks_the_chain(audited, capsys):
    ids = event_ids(audited)
    with audited.tx() as conn:
        conn.execute(delete(t.events).where(t.events.c.id == ids[-1]))
    code, report = audit(capsys, "--verify-chain")
    assert code == 1 and report["chain"]["first_bad_event"] == ids[-1]


@pytest.mark.parametrize("how", ["places", "contents"])
def test_two_events_swapped_break_the_chain(audited, capsys, how):
    ids = event_ids(audited)
    first, second = ids[2], ids[3]
    with audited.tx() as conn:
        rows = {
            r.id: r for r in conn.execute(select(t.events).where(t.events.c.id.in_([first, second]))).all()
        }
        if how == "places":  # the order of the chain itself
            conn.execute(update(t.events).where(t.events.c.id == first).values(chain_seq=-1))
            conn.execute(
                update(t.events).where(t.events.c.id == second).values(chain_seq=rows[first].chain_seq)
            )
            conn.execute(
                update(t.events).where(t.events.c.id == first).values(chain_seq=rows[second].chain_seq)
            )
        else:  # every column but the id, hashes and all, moved to the other row
            for a, b in ((first, second), (second, first)):
                moved = {k: v for k, v in rows[b]._mapping.items() if k not in ("id", "chain_seq")}
                conn.execute(update(t.events).where(t.events.c.id == a).values(**moved))
    code, report = audit(capsys, "--verify-chain")
    assert code == 1 and report["chain"]["first_bad_event"] in (first, second)


def test_each_utc_day_is_anchored_by_the_first_event_of_the_next(audited, capsys):
    day_1 = datetime(2030, 1, 1, 23, 0, tzinfo=UTC).timestamp()
    with audited.tx() as conn:
        conn.execute(insert(t.events).values(at=day_1, entity="letter", entity_id="1", event="note"))
    with audited.tx() as conn:
        conn.execute(insert(t.events).values(at=day_1 + 3600, entity="letter", entity_id="1", event="note"))
    with audited.read() as conn:
        (anchor,) = conn.execute(select(t.event_anchors).where(t.event_anchors.c.day == "2030-01-01")).all()
        last_of_day = conn.execute(select(t.events).where(t.events.c.at == day_1)).one()
    assert (anchor.seq, anchor.event_id, anchor.hash) == (
        last_of_day.chain_seq,
        last_of_day.id,
        last_of_day.hash,
    )
    assert audit(capsys, "--verify-chain")[0] == 0
    with audited.tx() as conn:  # the anchor copied off-site no longer matches a chain recomputed in place
        conn.execute(
            update(t.event_anchors).where(t.event_anchors.c.day == "2030-01-01").values(hash="0" * 64)
        )
    code, report = audit(capsys, "--verify-chain")
    assert code == 1 and report["chain"]["first_bad_event"] == last_of_day.id


def test_concurrent_appends_make_one_chain(database_url):
    """Writers in parallel threads, each in its own transactions: one chain without gaps or forks."""
    ledger = Ledger(database_url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def write(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(15):
                with ledger.tx() as conn:
                    append_event(conn, "letter", str(worker), "note", data={"i": i})
                    append_event(conn, "job", f"J{worker}", "note", data={"i": i})
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not errors, errors
        with ledger.read() as conn:
            report = load_chain(conn)
            assert conn.execute(select(func.count()).select_from(t.events)).scalar() == 120
        assert report.ok and report.events == 120, report
    finally:
        ledger.dispose()


# -- the upgrade ---------------------------------------------------------------------------------------------
def test_a_version_2_ledger_upgrades_and_its_events_are_chained(database_url, capsys, tmp_path, monkeypatch):
    ledger = Ledger(database_url)
    with ledger.engine.begin() as conn:  # as version 2 wrote them: no chain
        conn.exec_driver_sql("DROP INDEX ix_events_chain")
        for column in ("chain_seq", "prev_hash", "hash"):
            conn.exec_driver_sql(f"ALTER TABLE events DROP COLUMN {column}")
        conn.exec_driver_sql("DROP TABLE event_anchors")
        conn.exec_driver_sql("DROP TABLE event_chain")
        conn.execute(update(t.schema_info).values(version=2))
        for n in range(5):
            conn.execute(
                text(
                    "INSERT INTO events (at, entity, entity_id, event, from_state, to_state, data) "
                    f"VALUES ({1000.0 + n}, 'letter', '{n}', 'route_print', 'RECEIVED', 'PRINT_READY', "
                    '\'{"n": ' + str(n) + "}')"
                )
            )
    ledger.dispose()
    monkeypatch.setenv("PLANT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PLANT_DATABASE_URL", database_url)
    assert main(["audit", "--verify-chain"]) == 69  # too old for a read-only command until the plant starts
    assert "schema version 2" in capsys.readouterr().err
    ledger = Ledger(database_url)  # the plant starting: upgrades
    try:
        with ledger.read() as conn:
            assert conn.execute(select(t.schema_info.c.version)).scalar() == t.SCHEMA_VERSION == 3
            rows = conn.execute(select(t.events).order_by(t.events.c.id)).all()
        assert [r.chain_seq for r in rows] == [1, 2, 3, 4, 5] and rows[2].data == {"n": 2}
        with ledger.tx() as conn:  # new events continue the chain
            append_event(conn, "letter", "0", "plan", "PRINT_READY", "PLANNED")
        code, report = audit(capsys, "--verify-chain")
        assert code == 0 and report["chain"]["events"] == 6
        with ledger.tx() as conn:
            conn.execute(update(t.events).where(t.events.c.id == rows[1].id).values(entity_id="9"))
        code, report = audit(capsys, "--verify-chain")
        assert code == 1 and report["chain"]["first_bad_event"] == rows[1].id
    finally:
        ledger.dispose()
