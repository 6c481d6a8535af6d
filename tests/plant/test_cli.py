"""The command line: help, refusals with exit codes and messages, identifier checks."""

from __future__ import annotations

import pytest

from plant.cli import main
from plant.demo import generate


def test_help_documents_every_command(capsys):
    """`plant --help` lists every command."""
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "run", "resume", "status", "receipts", "worker", "ids", "plan"):
        assert command in out


def test_submission_without_manifest_is_refused_before_anything_starts(tmp_path, capsys):
    """`plant run` on a folder without manifest.csv exits 65 and says what to add; no state is created."""
    batch = generate(tmp_path / "in", 3, seed=2)
    (batch.submission / "manifest.csv").unlink()
    code = main(["--state-dir", str(tmp_path / "state"), "run", str(batch.submission)])
    assert code == 65
    assert "has no manifest.csv; add one" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()


def test_bad_config_exits_78_naming_the_key(tmp_path, capsys):
    """An unknown key in plant.toml stops the command with the key named."""
    config = tmp_path / "plant.toml"
    config.write_text("speed = 3\n")
    assert main(["--config", str(config), "ids", "check", "RR473124829ZZ"]) == 78
    assert "Unknown key speed" in capsys.readouterr().err


def test_ids_check_exit_codes(capsys):
    """`plant ids check` exits 0 when all ids are valid and 1 otherwise, one line per id with the reason."""
    assert main(["ids", "check", "RR473124829DE"]) == 0
    assert main(["ids", "check", "RR473124829DE", "RR473124828DE"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("RR473124828DE\tinvalid") and "check digit" in lines[-1]
