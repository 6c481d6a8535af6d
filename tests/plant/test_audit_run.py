"""`plant audit` after a real run: a small submission run to its end by `plant run` balances and its event
chain verifies, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json

from tests.plant.helpers import run_plant, run_submission


def test_a_clean_run_balances_and_its_chain_verifies(tmp_path, small_batch, database_url):
    config_text = "" if database_url.startswith("sqlite") else f'database_url = "{database_url}"\n'
    state = run_submission(tmp_path, small_batch.submission, config_text)
    config = tmp_path / "plant.toml"
    result = run_plant(["audit", "--all", "--verify-chain", "--json"], state, config=config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    (balance,) = report["submissions"]
    assert balance["inputs"] == balance["recorded"] == 12 and balance["balanced"]
    assert balance["finals"]["DISPATCHED"] == 12  # no consents given: every letter on paper
    assert report["chain"]["ok"] and report["chain"]["events"] > 12
    text = run_plant(["audit", "--all"], state, config=config)
    assert text.returncode == 0 and "Balanced: 1 submissions" in text.stdout, text.stdout
