"""The plan stage: pieces the fleet cannot take fail with the scheduler's reason and code; the rest are
planned."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from plant.config.sections import InserterConfig
from plant.ledger import schema as t
from plant.stages.plan import plan
from plant.stages.preflight import preflight
from plant.stages.route import route
from plant.testing import accept_batch, installed_plant


@pytest.fixture
def routed(settings, small_batch):
    """A plant without devices whose 12-letter batch is pre-flighted and routed (print pieces of 1, 2, 4
    sheets)."""
    with installed_plant(settings, devices=False) as current:
        submission_id = accept_batch(current, small_batch.submission, small_batch.consents)
        preflight(submission_id)
        route(submission_id)
        yield current, submission_id


def test_pieces_no_inserter_takes_fail_with_the_code_and_the_reason(routed):
    """With the only inserter taking 2 sheets, the 4-sheet pieces fail (NO_INSERTER, the sheets named) and
    every other print piece is planned."""
    current, submission_id = routed
    current.settings = replace(current.settings, inserters=(InserterConfig("inserter-1", max_sheets=2),))
    plan(submission_id)
    with current.ledger.read() as conn:
        rows = conn.execute(
            select(
                t.pieces.c.sheets, t.letters.c.state, t.letters.c.reason_code, t.letters.c.reason
            ).select_from(t.pieces.join(t.letters, t.pieces.c.letter_pk == t.letters.c.pk))
        ).all()
    thick = [r for r in rows if r.sheets > 2]
    assert thick and all((r.state, r.reason_code) == ("FAILED", "NO_INSERTER") for r in thick)
    assert all("4 sheets per piece" in r.reason for r in thick)
    assert all(r.state == "PLANNED" for r in rows if r.sheets <= 2)
