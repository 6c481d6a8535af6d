"""The consent registry and routing: scope, validity, revocation, fallback after N days on a frozen clock, and
the decision record of every letter."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from plant.errors import NotFound
from plant.intake.consent import ConsentIndex, import_registry
from plant.intake.digital import DAY_S, fall_back_due, record_opened
from plant.intake.submission import accept, read_submission
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.ledger import schema_intake as ti
from plant.ledger.reads import receipt_rows
from plant.stages.context import Plant, install
from plant.stages.preflight import preflight
from plant.stages.route import route
from plant.storage.paths import consent_index_dir

#: The frozen "now" of these tests.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()


def at(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def registry(tmp_path, rows, name="consents.csv"):
    path = tmp_path / name
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(
            fh,
            fieldnames=[
                "recipient_id",
                "channel",
                "address",
                "valid_from",
                "valid_to",
                "senders",
                "revoked_at",
            ],
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({"channel": "e-mailbox", "address": f"{row['recipient_id']}@box.example", **row})
    return path


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield ledger
    ledger.dispose()


def index_of(ledger, tmp_path, path):
    with ledger.tx() as conn:
        version = import_registry(conn, path)
    with ledger.read() as conn:
        return ConsentIndex.open(conn, version, tmp_path / "index")


def test_consent_for_all_senders_routes_digital(ledger, tmp_path):
    """An all-senders consent in force sends any sender's letter digitally, naming the registry line."""
    index = index_of(
        ledger, tmp_path, registry(tmp_path, [{"recipient_id": "R1", "valid_from": "2026-01-01"}])
    )
    decision = index.decide("R1", "ACME", T0)
    assert decision.digital and "consent line 2 for all senders" in decision.rule


def test_scoped_consent_does_not_cover_other_senders(ledger, tmp_path):
    """A consent for senders ACME and BETA does not cover GAMMA: print, saying so."""
    index = index_of(ledger, tmp_path, registry(tmp_path, [{"recipient_id": "R1", "senders": "ACME;BETA"}]))
    assert index.decide("R1", "BETA", T0).digital
    decision = index.decide("R1", "GAMMA", T0)
    assert not decision.digital and "do not cover sender GAMMA" in decision.rule


@pytest.mark.parametrize(
    ("when", "digital", "why"),
    [
        ("2026-01-31T23:59:59", False, "valid only from"),
        ("2026-02-01T00:00:00", True, "in force"),
        ("2026-02-27T23:59:59", True, "in force"),
        ("2026-02-28T00:00:00", False, "expired at 2026-02-28"),
    ],
)
def test_validity_window_is_half_open(ledger, tmp_path, when, digital, why):
    """A consent holds from valid_from (inclusive) to valid_to (exclusive)."""
    path = registry(tmp_path, [{"recipient_id": "R1", "valid_from": "2026-02-01", "valid_to": "2026-02-28"}])
    decision = index_of(ledger, tmp_path, path).decide("R1", "", at(when))
    assert decision.digital is digital and why in decision.rule


def test_revocation_in_json_ends_the_consent(ledger, tmp_path):
    """A JSON revocation ends the consent from its time on; before it the consent holds."""
    path = tmp_path / "consents.json"
    path.write_text(
        json.dumps(
            {
                "consents": [
                    {
                        "recipient_id": "R1",
                        "channel": "e-mailbox",
                        "address": "r1@box",
                        "senders": "*",
                        "valid_from": "2026-01-01",
                    }
                ],
                "revocations": [{"recipient_id": "R1", "revoked_at": "2026-03-01"}],
            }
        )
    )
    index = index_of(ledger, tmp_path, path)
    assert index.decide("R1", "", at("2026-02-28")).digital
    decision = index.decide("R1", "", at("2026-03-01"))
    assert not decision.digital and "revoked at 2026-03-01" in decision.rule


def test_sender_specific_consent_wins_over_all_senders(ledger, tmp_path):
    """With an all-senders and a sender-specific consent both in force, the specific one decides."""
    path = registry(
        tmp_path,
        [
            {"recipient_id": "R1", "address": "general@box"},
            {"recipient_id": "R1", "senders": "ACME", "address": "acme@box"},
        ],
    )
    decision = index_of(ledger, tmp_path, path).decide("R1", "ACME", T0)
    assert decision.consent.address == "acme@box"


def test_unknown_recipient_goes_to_print(ledger, tmp_path):
    """A recipient without any entry is printed: 'no consent entry'."""
    decision = index_of(ledger, tmp_path, registry(tmp_path, [{"recipient_id": "R1"}])).decide("R9", "", T0)
    assert not decision.digital and decision.rule == "no consent entry for the recipient"


def test_index_is_rebuilt_from_the_ledger_where_missing(ledger, tmp_path):
    """A machine without the index file builds it from the ledger's entries and decides the same."""
    path = registry(tmp_path, [{"recipient_id": "R1", "senders": "ACME"}])
    first = index_of(ledger, tmp_path, path)
    first.close()
    first.path.unlink()
    with ledger.read() as conn:
        again = ConsentIndex.open(conn, first.version, tmp_path / "index")
    assert again.decide("R1", "ACME", T0).digital and not again.decide("R1", "X", T0).digital


def test_same_file_twice_is_one_version(ledger, tmp_path):
    """Importing the same bytes again returns the same registry version."""
    path = registry(tmp_path, [{"recipient_id": "R1"}])
    with ledger.tx() as conn:
        assert import_registry(conn, path) == import_registry(conn, path)


# ---- routing through the stages, on a frozen clock ---------------------------------------------------------
@pytest.fixture
def plant(settings, small_batch, tmp_path):
    """A device-less plant with the 12-letter batch accepted and pre-flighted, and a registry where R(1..4) of
    the batch consented: one of them without a mailbox address."""
    for folder in (settings.blobs_dir, settings.receipts_dir, settings.digital_outbox_dir):
        folder.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings.ledger_url)
    current = Plant(settings=settings, ledger=ledger, printers={}, inserters={})
    install(current)
    package = read_submission(small_batch.submission)
    recipients = [row.values["recipient_id"] for row in package.rows]
    path = registry(
        tmp_path,
        [{"recipient_id": r, "valid_from": "2026-01-01"} for r in recipients[:3]]
        + [{"recipient_id": recipients[3], "address": ""}],
    )
    with ledger.tx() as conn:
        import_registry(conn, path, index_dir=consent_index_dir(settings))
    current.submission_id, _ = accept(ledger.tx, settings.blobs_dir, package)
    preflight(current.submission_id)
    route(current.submission_id, clock=lambda: T0)
    current.letter_ids = [row.letter_id for row in package.rows]
    yield current
    install(None)
    ledger.dispose()


def states(plant) -> dict[str, str]:
    with plant.ledger.read() as conn:
        return dict(conn.execute(select(t.letters.c.letter_id, t.letters.c.state)).all())


def test_every_letter_has_its_decision_recorded(plant):
    """Each routed letter has one decision row: registry version, time, answer and rule."""
    with plant.ledger.read() as conn:
        rows = conn.execute(select(ti.routing_decisions)).all()
    assert len(rows) == 12
    assert all(
        r.registry_version == 1 and r.decided_at == T0 and r.answer in ("digital", "print") and r.rule
        for r in rows
    )
    assert sum(r.answer == "digital" for r in rows) == 4


def test_consented_letters_are_delivered_with_a_fallback_time(plant):
    """Consented letters with a mailbox are DELIVERED_DIGITAL, due for fallback 5 days after delivery."""
    with plant.ledger.read() as conn:
        rows = conn.execute(
            select(ti.digital_deliveries).where(ti.digital_deliveries.c.status == "delivered")
        ).all()
    assert len(rows) == 3 and all(r.fallback_due_at == T0 + 5 * DAY_S for r in rows)
    assert [states(plant)[i] for i in plant.letter_ids[:3]] == ["DELIVERED_DIGITAL"] * 3


def test_recipient_without_mailbox_is_kept_for_the_sender(plant):
    """A consent without a mailbox address ends FAILED with KEPT_FOR_SENDER on the receipt."""
    with plant.ledger.read() as conn:
        receipt = {r["letter_id"]: r for r in receipt_rows(conn, plant.submission_id)}[plant.letter_ids[3]]
    assert receipt["status"] == "FAILED" and receipt["code"] == "KEPT_FOR_SENDER"


def test_nothing_falls_back_before_the_time(plant):
    """Four days and 23 hours after delivery nothing falls back."""
    assert fall_back_due(plant.ledger, plant.settings, at=T0 + 5 * DAY_S - 3600) == []


def test_unopened_letters_fall_back_to_print_after_five_days(plant):
    """At five days the unopened digital letters go PRINT_READY with a piece and the DIGITAL_FALLBACK code."""
    moved = fall_back_due(plant.ledger, plant.settings, at=T0 + 5 * DAY_S)
    assert len(moved) == 3
    with plant.ledger.read() as conn:
        rows = {r["letter_id"]: r for r in receipt_rows(conn, plant.submission_id)}
    for letter_id in plant.letter_ids[:3]:
        assert rows[letter_id]["status"] == "PRINT_READY" and rows[letter_id]["code"] == "DIGITAL_FALLBACK"
        assert rows[letter_id]["channel"] == "print" and rows[letter_id]["tracking_id"]


def test_an_opened_letter_does_not_fall_back(plant):
    """A letter whose read receipt was recorded stays DELIVERED_DIGITAL after the fallback time."""
    record_opened(plant.ledger, plant.letter_ids[0], at=T0 + DAY_S)
    fall_back_due(plant.ledger, plant.settings, at=T0 + 6 * DAY_S)
    assert states(plant)[plant.letter_ids[0]] == "DELIVERED_DIGITAL"
    assert states(plant)[plant.letter_ids[1]] == "PRINT_READY"


def test_fallback_reopens_the_submission(plant):
    """A fallback re-opens the submission so the run follows the paper to dispatch."""
    with plant.ledger.tx() as conn:
        conn.execute(t.submissions.update().values(finished_at=T0))
    fall_back_due(plant.ledger, plant.settings, at=T0 + 5 * DAY_S)
    with plant.ledger.read() as conn:
        assert conn.execute(select(t.submissions.c.finished_at)).scalar() is None


def test_read_receipt_of_a_print_letter_is_refused(plant):
    """`digital opened` on a letter that went to print says it was not delivered digitally."""
    from plant.errors import NotDigital

    with pytest.raises(NotDigital, match="not delivered digitally"):
        record_opened(plant.ledger, plant.letter_ids[5])


def test_read_receipt_of_an_unknown_letter_is_not_found(plant):
    """`digital opened` on an unknown letter id names it."""
    with pytest.raises(NotFound, match="'NOPE'"):
        record_opened(plant.ledger, "NOPE")


def test_route_event_carries_the_matching_line(plant):
    """The route event of a digital letter names the registry line that matched."""
    with plant.ledger.read() as conn:
        data = (
            conn.execute(select(t.events.c.data).where(t.events.c.event == "route_digital")).scalars().first()
        )
    assert data["entry_line"] == 2 and data["answer"] == "digital" and data["registry_version"] == 1


def test_no_message_waits_days_for_the_fallback(plant):
    """Routing digital letters queues nothing delayed: the running plant's timed sweep applies the
    fallback."""
    with plant.ledger.read() as conn:
        delays = conn.execute(select(t.outbox.c.actor, t.outbox.c.delay_ms)).all()
    assert delays and all(not row.delay_ms for row in delays)
