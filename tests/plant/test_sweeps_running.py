"""A running plant applies the timed rules by itself: a session on an injected clock prints an unopened
digital letter and annuls expired marks with no call from anyone, and a lone `plant worker` sweeps a shared
ledger."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from plant.config import load_settings
from plant.intake.consent import import_registry
from plant.intake.digital import DAY_S
from plant.intake.submission import intake, read_submission
from plant.ledger import schema as t
from plant.postage.marks import MarkState, move_mark
from plant.runtime.session import Session
from plant.stages.context import install
from plant.storage.paths import consent_index_dir
from tests.plant.helpers import PHASE_TIMEOUT_S, plant_env, wait_for
from tests.plant.sweeping import (
    DIGITAL,
    consent_registry,
    event_counts,
    letter_states,
    mark_states,
    routed_plant,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_leftover_redis")]

HOUR_S = 3600
#: Seconds a phase of the running plant may take before the test fails (it takes a few).
#: A plant that sweeps every second and prints digital letters unopened for a day.
CONFIG = """
[sweeps]
interval_s = 1
[intake]
digital_fallback_days = 1
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "plant.toml"
    path.write_text(CONFIG)
    return path


def test_running_session_prints_unopened_letters_and_annuls_expired_marks(tmp_path, config, small_batch):
    """With the session's clock moved on, the plant itself sends the unopened digital letters through print to
    dispatch (one fallback each) and, 72 h later, annuls every mark on hold but never the one paid."""
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})
    offset = [0.0]
    with Session(
        settings, config_path=config, progress=False, clock=lambda: time.time() + offset[0]
    ) as session:
        assert "--no-sweeps" in session.workers[0].args  # the session's clock is the one that sweeps
        ledger = session.plant.ledger
        recipients = [row.values["recipient_id"] for row in read_submission(small_batch.submission).rows]
        with ledger.tx() as conn:
            import_registry(
                conn,
                consent_registry(tmp_path / "consents.csv", recipients[:DIGITAL]),
                index_dir=consent_index_dir(settings),
            )
        submission = intake(ledger, settings, small_batch.submission).submission_id
        session.relay.wake.set()
        session.wait([submission], timeout=PHASE_TIMEOUT_S)
        with ledger.read() as conn:
            digital = (
                conn.execute(
                    t.letters.select()
                    .with_only_columns(t.letters.c.pk)
                    .where(t.letters.c.state == "DELIVERED_DIGITAL")
                )
                .scalars()
                .all()
            )
        assert len(digital) == DIGITAL
        paid = sorted(mark_states(ledger))[0]
        with ledger.tx() as conn:
            move_mark(conn, paid, MarkState.ON_HOLD, MarkState.PAID, "accept", "paid", time.time())

        offset[0] = DAY_S + HOUR_S  # the letters' fallback is due; no mark is 72 h old
        wait_for(lambda: len(event_counts(ledger, "fallback_print")) == DIGITAL, "the digital fallback")
        session.wait([submission], timeout=PHASE_TIMEOUT_S)
        assert letter_states(ledger, digital) == ["DISPATCHED"] * DIGITAL
        assert event_counts(ledger, "fallback_print") == {str(pk): 1 for pk in digital}
        assert MarkState.ANNULLED not in mark_states(ledger).values()

        offset[0] += 73 * HOUR_S  # every mark on hold is past its 72 h
        wait_for(lambda: MarkState.ON_HOLD not in mark_states(ledger).values(), "the marks' expiry")
        states = mark_states(ledger)
        assert states.pop(paid) == MarkState.PAID and set(states.values()) == {MarkState.ANNULLED}
        assert event_counts(ledger, "expire") == {piece: 1 for piece in states}


def test_lone_worker_sweeps_the_ledger(tmp_path, config, small_batch):
    """`plant worker` (no session) claims the sweeps itself: expired marks are annulled and overdue digital
    letters go to print, once each."""
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})
    plant = routed_plant(settings, small_batch, tmp_path, time.time() - 10 * DAY_S)
    install(None)
    ledger = plant.ledger
    with open(tmp_path / "worker.log", "wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "plant", "--config", str(config), "worker"],
            env=plant_env(settings.state_dir),
            stdout=log_file,
            stderr=log_file,
        )
    try:
        wait_for(lambda: {mark_states(ledger)[p] for p in plant.pieces} == {MarkState.ANNULLED}, "the expiry")
        wait_for(lambda: "DELIVERED_DIGITAL" not in letter_states(ledger, plant.digital), "the fallback")
        assert event_counts(ledger, "fallback_print") == {str(pk): 1 for pk in plant.digital}
        assert {p: n for p, n in event_counts(ledger, "expire").items() if p in plant.pieces} == {
            piece: 1 for piece in plant.pieces
        }
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        ledger.dispose()
