"""One configured mark layout drives imposition, pre-flight and the inserter's camera alike."""

from __future__ import annotations

import pytest

from plant.demo import generate
from tests.plant.helpers import decode_control_codes, query, run_submission

pytestmark = pytest.mark.slow


def test_moved_control_zone_is_printed_and_read_there(tmp_path):
    """With the control code moved up the left margin, every piece is still read by the inserter and
    dispatched, and the code is found at the new place on the printed sheets."""
    batch = generate(tmp_path / "in", 12, seed=9)
    state = run_submission(tmp_path, batch.submission, "[marks]\ncontrol_zone_mm = [6, 160, 12, 12]\n")
    assert set(s for (s,) in query(state, "SELECT state FROM letters")) == {"DISPATCHED"}
    (pdf,) = query(state, "SELECT pdf_path FROM print_jobs ORDER BY number LIMIT 1")[0]
    from pathlib import Path

    # The default zone (250 mm from the top) is now empty; the helper looks there.
    assert set(decode_control_codes(Path(pdf), tmp_path)) == {None}
