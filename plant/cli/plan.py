"""``plant plan INSTANCE.json [--time-limit S] > PLAN.json``: plan an instance file from the command line.

:func:`register` adds the sub-command to the ``plant`` parser and :func:`cmd_plan` runs it; the module also
runs on its own (``python -m plant.cli.plan``) for use without a plant configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from plant.errors import PlantError


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``plan INSTANCE.json [--time-limit S]`` to ``subparsers``."""
    cmd = subparsers.add_parser("plan", parents=parents, help="plan an instance file; PLAN.json to stdout")
    cmd.add_argument(
        "instance", type=Path, help="INSTANCE.json (printers, inserters, jobs; see docs/scheduling.md)"
    )
    cmd.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="seconds the planner may spend improving (default: the planner's, 1 s)",
    )
    cmd.set_defaults(func=cmd_plan)


def cmd_plan(settings: object, args: argparse.Namespace) -> int:
    """Read the instance, plan it, print PLAN.json; a bad instance raises :class:`ScheduleError`."""
    from plant.scheduling.errors import ScheduleError
    from plant.scheduling.model import instance_from_json, plan_to_json
    from plant.scheduling.planner import DEFAULT_TIME_LIMIT_S, plan

    limit = DEFAULT_TIME_LIMIT_S if args.time_limit is None else args.time_limit
    if limit < 0:
        raise ScheduleError("--time-limit", args.time_limit, "a number of seconds ≥ 0")
    try:
        data = json.loads(Path(args.instance).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScheduleError("INSTANCE", str(args.instance), "a path to an existing JSON file") from None
    except json.JSONDecodeError as exc:
        raise ScheduleError("INSTANCE", str(args.instance), f"valid JSON ({exc})") from None
    result = plan(instance_from_json(data), limit)
    json.dump(plan_to_json(result), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m plant.cli.plan INSTANCE.json``."""
    parser = argparse.ArgumentParser(prog="plant")
    register(parser.add_subparsers(dest="command", required=True), [])
    args = parser.parse_args(["plan", *(sys.argv[1:] if argv is None else argv)])
    try:
        return cmd_plan(None, args)
    except PlantError as exc:
        print(f"plant: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
