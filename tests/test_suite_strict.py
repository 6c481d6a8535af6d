"""The suite's strict mode: under scripts/test.sh (and so CI) a skipped test fails, so a missing service can
never pass silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, strict: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n\ndef test_needs_a_service():\n    pytest.skip('the service is not installed')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PLANT_TESTS_STRICT"}
    if strict is not None:
        env["PLANT_TESTS_STRICT"] = strict
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            str(tmp_path / "test_probe.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("strict", "code", "words"),
    [
        ("1", 1, "1 failed"),
        (None, 0, "1 skipped"),
    ],
)
def test_a_skip_fails_only_in_strict_mode(tmp_path, strict, code, words):
    result = _run(tmp_path, strict)
    assert result.returncode == code, result.stdout + result.stderr
    assert words in result.stdout
    if strict:
        assert "the service is not installed" in result.stdout
