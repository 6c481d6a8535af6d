"""The same message delivered twice, to two worker processes at once: a session with two `plant worker`
processes whose relay publishes every stage message of a seeded share twice through the real Redis broker
(two dramatiq messages, same actor and arguments, as a relay that crashed between publishing and marking
its row would). Every stage must find the second one's work done: the checker finds nothing twice."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest

from plant.demo import generate
from plant.intake.consent import import_registry
from plant.runtime.session import Session
from plant.testing import state_settings, submit, write_config
from tests.faults.checker import assert_held, check_run
from tests.faults.harness import (
    FLEET,
    HEALED_STATES,
    LETTERS,
    RESULTS,
    RUN_TIMEOUT_S,
    Result,
    last_final_at,
    runs,
)

#: The fault's name in the table (its heal time is the whole run's: the duplicates come all along).
FAULT = "same message twice, 2 workers"


class Twice:
    """An actor whose relay sends a seeded share of its messages twice (counted in ``doubled``)."""

    def __init__(self, actor: Any, rng: random.Random, share: float, doubled: Counter[str]) -> None:
        self.actor, self.rng, self.share, self.doubled = actor, rng, share, doubled

    def send_with_options(self, *, args: tuple = (), **options: Any) -> Any:
        sent = self.actor.send_with_options(args=args, **options)
        if self.rng.random() < self.share:
            self.actor.send_with_options(args=args, **options)
            self.doubled[self.actor.actor_name] += 1
        return sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self.actor, name)


@pytest.mark.parametrize("run", runs())
def test_same_message_twice_to_two_workers(tmp_path, run):
    """Two workers; a seeded share (60–100 %) of every stage's messages published twice at once: every
    letter final exactly once, no sheet or envelope twice at the devices."""
    rng = random.Random(f"dup/{run}")
    share = 1.0 if run == 0 else round(rng.uniform(0.6, 1.0), 2)
    batch = generate(tmp_path / "in", LETTERS, seed=200 + run)
    config = write_config(tmp_path, FLEET)
    state = tmp_path / "state"
    settings = state_settings(state, config)
    doubled: Counter[str] = Counter()
    started = time.time()
    with Session(settings, config_path=config, workers=2, progress=False) as session:
        assert len(session.workers) == 2
        relay = session.relay
        relay.actors = {name: Twice(actor, rng, share, doubled) for name, actor in relay.actors.items()}
        with session.plant.ledger.tx() as conn:
            import_registry(conn, batch.consents)
        submission_id = submit(session, batch.submission)
        try:
            session.wait([submission_id], timeout=RUN_TIMEOUT_S)
        except Exception as error:
            RESULTS.items.append(Result(FAULT, run, f"share {share}", False, None, None, str(error)))
            raise
        alive = [proc for proc in session.workers if proc.poll() is None]
    assert len(alive) == 2, "a worker died"
    assert sum(doubled.values()) > 0
    report = check_run(state, config, expect_states=HEALED_STATES)
    final = last_final_at(state)
    RESULTS.items.append(
        Result(
            FAULT,
            run,
            f"share {share} ({sum(doubled.values())} doubled: {dict(doubled)})",
            report.held,
            None if final is None else final - started,
            LETTERS,
            report.summary(),
        )
    )
    assert_held(report)
