"""A command line that starts at once: what ``plant --help`` and ``plant status ID`` load (deterministic,
unlike their time, which benchmarks/test_cli.py measures), logging set up only when structlog is loaded, and
the ``plant impose`` choices that are spelled out so that ``--help`` need not load the imposition library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from plant.cli import impose as impose_cli
from plant.demo import generate
from plant.intake.submission import intake
from plant.ledger import Ledger
from tests.plant.helpers import plant_env

#: Loaded by no command that only reads: compilers, PDF engines, arrays, the message broker — and structlog
#: with the rich it brings (logging is set up when structlog is first imported).
HEAVY = {"numba", "pikepdf", "pypdfium2", "numpy", "dramatiq", "structlog", "rich"}

#: Runs ``plant ARGS`` in a fresh interpreter and writes the top-level names of the modules it loaded to PATH:
#: ``python -c PROBE PATH ARGS…``.
PROBE = """
import json, sys
from plant.cli import main
try:
    code = main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as fh:
        json.dump(sorted({name.partition(".")[0] for name in sys.modules}), fh)
sys.exit(code)
"""


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """A state dir whose ledger holds one accepted submission of 4 letters."""
    root = tmp_path_factory.mktemp("startup")
    batch = generate(root / "in", 4, seed=3)
    from plant.config import load_settings

    settings = load_settings(environ={"PLANT_STATE_DIR": str(root / "state")})
    settings.state_dir.mkdir(parents=True)
    ledger = Ledger(settings.ledger_url)
    try:
        intake(ledger, settings, batch.submission)
    finally:
        ledger.dispose()
    return root / "state"


def loaded(state, tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``plant ARGS`` on ``state`` in a fresh interpreter: its outcome and the packages it loaded."""
    names = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(names), *args],
        env=plant_env(state),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, set(json.loads(names.read_text()))


def test_help_loads_neither_the_ledger_nor_the_libraries(state, tmp_path):
    """`plant --help` builds the parser of every command from the family modules alone."""
    result, modules = loaded(state, tmp_path, "--help")
    assert result.returncode == 0 and "status" in result.stdout, result.stderr
    assert modules & (HEAVY | {"sqlalchemy", "imposition", "printers", "inserters"}) == set()


def test_status_loads_only_the_ledger(state, tmp_path):
    """`plant status ID` reads the ledger through SQLAlchemy and loads nothing else that is heavy."""
    result, modules = loaded(state, tmp_path, "status", "L000001")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:3] == ["L000001", "RECEIVED"]
    assert "sqlalchemy" in modules
    assert modules & HEAVY == set()


def test_logging_is_configured_when_structlog_is_first_imported(tmp_path):
    """A process that configured logging before loading structlog logs JSON lines to stderr, at INFO, from the
    first line on; configuring again before that replaces the pending setup."""
    code = (
        "import sys\n"
        "from plant import logs\n"
        "from plant.config import LogFormat\n"
        "logs.configure(LogFormat.CONSOLE)\n"
        "logs.configure(LogFormat.JSON)\n"
        "assert 'structlog' not in sys.modules\n"
        "import structlog\n"
        "structlog.get_logger('t').debug('hidden')\n"
        "structlog.get_logger('t').info('hello', letter_id='L1')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=plant_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert {k: v for k, v in json.loads(line).items() if k != "timestamp"} == {
        "event": "hello",
        "letter_id": "L1",
        "level": "info",
    }


def test_impose_choices_are_the_imposition_librarys():
    """The choices of `plant impose --layout/--sheet/--duplex` and its default stack depth are the values of
    the library's enums and constant, in their order (the first is the default)."""
    import imposition

    assert tuple(s.value for s in imposition.Scheme) == impose_cli.LAYOUTS
    assert tuple(s.value for s in imposition.SheetSize) == impose_cli.SHEETS
    assert tuple(d.value for d in imposition.Duplex) == impose_cli.DUPLEX
    assert imposition.DEFAULT_STACK_DEPTH == impose_cli.STACK_DEPTH
