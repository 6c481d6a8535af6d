"""``plant …``: the command line of the plant.

The parser is built from one table, :data:`FAMILIES`: each family module (``plant.cli.run``,
``plant.cli.intake`` …) registers its commands with ``set_defaults(func=…)``, and imports what a command needs
only when the command runs, so ``plant --help`` and ``plant status ID`` start at once. Every command loads the
settings once (``--config``, environment, defaults). :func:`main` maps every error root — the plant's
:class:`PlantError` and each library's — to an exit code and prints its message, which says what to do.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from plant.errors import PlantError

if TYPE_CHECKING:
    from plant.config import Settings

#: The command families, in the order ``plant --help`` lists them: each is a module of this package with a
#: ``register(subparsers, parents)`` function.
FAMILIES = (
    "run",
    "intake",
    "operate",
    "reconcile",
    "audit",
    "plan",
    "impose",
    "postage",
    "qa",
    "scan",
    "web",
)

#: Exit code per library error root (the libraries know nothing of the plant's codes): EX_DATAERR for what a
#: caller gave them, EX_UNAVAILABLE for a device.
LIBRARY_ERRORS = {
    "imposition.errors:ImpositionError": 65,
    "tracking.errors:TrackingError": 65,
    "printers.errors:PrinterError": 69,
    "inserters.errors:InserterError": 69,
}

EPILOG = "Environment: PLANT_STATE_DIR, PLANT_REDIS_URL, PLANT_DATABASE_URL override plant.toml."

#: A command's handler: the settings and the parsed arguments in, the exit code out.
Handler = Callable[["Settings", argparse.Namespace], int]


def common_options() -> argparse.ArgumentParser:
    """The options every command takes (``--config``, ``--state-dir``), as a parent parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="plant.toml to use")
    common.add_argument(
        "--state-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="where the ledger, queue, spool and receipts live (default ./.plant)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command, from :data:`FAMILIES`."""
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="plant",
        parents=[common],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print-and-mail production plant controller.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    for family in FAMILIES:
        importlib.import_module(f"plant.cli.{family}").register(sub, [common])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``plant`` console script."""
    args = build_parser().parse_args(argv)
    try:
        from plant import logs
        from plant.config import load_settings

        settings = load_settings(getattr(args, "config", None))
        if getattr(args, "state_dir", None):
            settings = settings.with_state_dir(args.state_dir)
        logs.configure(settings.log_format)
        handler: Handler = args.func
        return handler(settings, args)
    except PlantError as exc:
        print(f"plant: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("plant: interrupted; run `plant resume` to finish.", file=sys.stderr)
        return 130
    except Exception as exc:
        code = library_exit_code(exc)
        if code is None:
            raise
        print(f"plant: {exc}", file=sys.stderr)
        return code


def library_exit_code(exc: BaseException) -> int | None:
    """The exit code of a library's error (:data:`LIBRARY_ERRORS`), or None for anything else."""
    for spec, code in LIBRARY_ERRORS.items():
        module_name, _, class_name = spec.partition(":")
        module = sys.modules.get(module_name)  # a library that was never imported raised nothing
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return code
    return None


def out(text: str = "") -> None:
    """Print a line of a command's output (stdout)."""
    print(text)


def say(text: str) -> None:
    """Print a line for the person at the terminal (stderr: progress, hints), apart from the output."""
    print(text, file=sys.stderr, flush=True)
