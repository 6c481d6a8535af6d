"""A waiting session heals lost messages by itself: when nothing has moved for two heartbeat timeouts it
derives every unfinished thing's next step again from the ledger (issue 12, liveness: "plant run never
waits silently", "the plant heals without an operator where it can")."""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from plant.demo import generate
from plant.ledger import schema as t
from plant.testing import configure, open_session, read_rows, submit

pytestmark = pytest.mark.slow

#: A real-time fleet: the queue holds polls and follow-ups while the presses and the inserter work.
FLEET = """
time_scale = 1.0
job_max_pieces = 4
[queue]
heartbeat_timeout_s = 5
[[printers]]
name = "press-a"
sheets_per_minute = 600
[[inserters]]
name = "ins-a"
envelopes_per_hour = 36000
"""


def test_messages_lost_after_their_commit_are_derived_again_and_the_run_finishes(tmp_path):
    """Given a session whose worker is paused, when a submission's first messages are published into Redis and
    Redis then loses them (its data wiped) before the worker takes them, then the session notices the quiet,
    derives the next steps from the ledger and the run finishes: every letter final, each piece dispatched
    once. Without the re-derive the run would wait for the recovery sweep's stale age."""
    config, settings = configure(tmp_path, FLEET)
    batch = generate(tmp_path / "in", 12, seed=2)
    with open_session(settings, config) as session, capture_logs() as lines:
        (worker,) = session.workers
        os.kill(worker.pid, signal.SIGSTOP)
        try:
            submission = submit(session, batch.submission)
            outbox = t.outbox.c
            unpublished = select(outbox.id).where(outbox.published_at.is_(None))
            deadline = time.monotonic() + 60
            while read_rows(session, unpublished):  # the session's relay publishes them into Redis
                assert time.monotonic() < deadline, "the relay never published the submission's messages"
                time.sleep(0.05)
            session.broker.client.flushall()  # ... where they are lost before any worker took them
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        session.wait([submission], timeout=120)
    assert any(line["event"] == "quiet_rederive" for line in lines)
    states = [r.state for r in read_rows(settings, select(t.letters.c.state))]
    assert len(states) == 12 and set(states) <= {"DISPATCHED", "DELIVERED_DIGITAL", "REJECTED"}
    dispatched = [
        r.entity_id
        for r in read_rows(settings, select(t.events.c.entity_id).where(t.events.c.event == "dispatch"))
    ]
    assert len(dispatched) == len(set(dispatched))
