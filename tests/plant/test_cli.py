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


def test_status_without_a_ledger_says_so_and_creates_none(tmp_path, capsys):
    """`plant status` on a state dir where nothing has run exits 66 naming the ledger, and creates no
    database."""
    assert main(["--state-dir", str(tmp_path / "state"), "status", "L000001"]) == 66
    assert "No ledger at" in capsys.readouterr().err
    assert not (tmp_path / "state" / "ledger.sqlite").exists()


def test_a_read_only_ledger_is_neither_created_nor_upgraded(database_url):
    """Opened read-only, an empty database is NotFound and an older schema a ServiceError that says which
    commands upgrade it; neither is written to. A current one reads, and refuses a write transaction."""
    from sqlalchemy import select, update

    from plant.errors import NotFound, ServiceError
    from plant.ledger import Ledger
    from plant.ledger import schema as t

    with pytest.raises(NotFound, match="No ledger at|is empty"):
        Ledger(database_url, read_only=True)
    ledger = Ledger(database_url)
    with ledger.tx() as conn:
        conn.execute(update(t.schema_info).values(version=1))
    with pytest.raises(ServiceError, match=r"schema version 1, older .*`plant resume`"):
        Ledger(database_url, read_only=True)
    with ledger.read() as conn:
        assert conn.execute(select(t.schema_info.c.version)).scalar() == 1
    with ledger.tx() as conn:
        conn.execute(update(t.schema_info).values(version=t.SCHEMA_VERSION))
    ledger.dispose()
    reader = Ledger(database_url, read_only=True)
    try:
        with reader.read() as conn:
            assert conn.execute(select(t.letters.c.pk)).all() == []
        with pytest.raises(RuntimeError, match="read-only"), reader.tx():
            pass
    finally:
        reader.dispose()
