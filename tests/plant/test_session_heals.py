"""A waiting session heals lost messages by itself: when nothing has moved for two heartbeat timeouts it
derives every unfinished thing's next step again from the ledger (issue 12, liveness: "plant run never
waits silently", "the plant heals without an operator where it can")."""

from __future__ import annotations

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


def test_messages_lost_from_redis_are_derived_again_and_the_run_finishes(tmp_path):
    """Given a run whose first jobs are on the press, when every message in Redis is lost (its data wiped,
    as a Redis restarted without its AOF would be), then the session notices the quiet, derives the next
    steps from the ledger and the run finishes: every letter final, each piece dispatched once."""
    config, settings = configure(tmp_path, FLEET)
    batch = generate(tmp_path / "in", 12, seed=2)
    with open_session(settings, config) as session, capture_logs() as lines:
        submission = submit(session, batch.submission)
        jobs = t.print_jobs.c
        deadline = time.monotonic() + 60
        while not read_rows(session, select(jobs.job_id).where(jobs.state == "SPOOLED")):
            assert time.monotonic() < deadline, "no job reached the press"
            time.sleep(0.1)
        session.broker.client.flushall()  # every queued, delayed and in-flight message is gone
        session.wait([submission], timeout=120)
    assert any(line["event"] == "quiet_rederive" for line in lines)
    states = [r.state for r in read_rows(settings, select(t.letters.c.state))]
    assert len(states) == 12 and set(states) <= {"DISPATCHED", "DELIVERED_DIGITAL", "REJECTED"}
    dispatched = [
        r.entity_id
        for r in read_rows(settings, select(t.events.c.entity_id).where(t.events.c.event == "dispatch"))
    ]
    assert len(dispatched) == len(set(dispatched))
