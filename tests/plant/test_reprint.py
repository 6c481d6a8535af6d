"""A jam that destroys a sheet: the inserter diverts the incomplete piece, the plant reprints it with the same
tracking id in a new job, and it is dispatched exactly once."""

from __future__ import annotations

from collections import Counter

import pytest

from plant.demo import generate
from tests.plant.helpers import query, read_csv, run_submission

pytestmark = pytest.mark.slow

JAMMING_FLEET = """
[[printers]]
name = "press-j"
sheets_per_minute = 600
jams = [5]
auto_clear_after_s = 2
[[inserters]]
name = "ins-j"
"""


def test_sheet_lost_in_a_jam_is_reprinted_with_the_same_ids(tmp_path):
    """The piece whose sheet the jam destroyed is spoiled, reprinted once in another job, and dispatched
    once."""
    batch = generate(tmp_path / "in", 20, seed=5)
    state = run_submission(tmp_path, batch.submission, JAMMING_FLEET)
    assert set(s for (s,) in query(state, "SELECT state FROM letters")) == {"DISPATCHED"}
    spoiled = [e for (e,) in query(state, "SELECT entity_id FROM events WHERE event = 'spoil'")]
    assert len(spoiled) == 1
    (letter_pk,) = spoiled
    jobs = query(
        state,
        f"SELECT j.job_id FROM job_pieces j JOIN pieces p USING (piece_id) "
        f"WHERE p.letter_pk = {letter_pk} ORDER BY j.job_id",
    )
    assert len(jobs) == 2, "printed in the first job and reprinted in a second"
    (tracking_id,) = query(state, f"SELECT tracking_id FROM pieces WHERE letter_pk = {letter_pk}")[0]
    manifest = Counter(r["tracking_id"] for m in (state / "manifests").glob("*.csv") for r in read_csv(m))
    assert manifest[tracking_id] == 1 and max(manifest.values()) == 1
    history = [
        e
        for (e,) in query(
            state,
            f"SELECT event FROM events WHERE entity = 'letter' AND entity_id = '{letter_pk}' ORDER BY id",
        )
    ]
    assert history.count("spool") == 2 and history.count("dispatch") == 1
    assert "reprint" in history
