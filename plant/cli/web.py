"""``plant web add-operator NAME``: the operators who may act from the web pages."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from plant.errors import ConfigError

if TYPE_CHECKING:
    from plant.config import Settings


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """``plant web add-operator NAME``."""
    web = sub.add_parser("web", parents=parents, help="operators who may act from the web pages")
    web.set_defaults(func=cmd_web)
    web_sub = web.add_subparsers(dest="web_command", required=True, metavar="WEB_COMMAND")
    add = web_sub.add_parser(
        "add-operator",
        parents=parents,
        help="add an operator (or set their password): prompted, or one line on stdin",
    )
    add.add_argument("name")


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``plant web add-operator NAME``: the password from a prompt (twice) or the first line of stdin."""
    path = settings.web.operators_file
    if path is None:
        raise ConfigError(
            "No [web] operators_file in plant.toml; set one (e.g. operators_file = "
            '"/etc/plant/operators") and run this again.',
            key="web.operators_file",
        )
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            print("plant: the passwords differ; nothing changed.", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    from plant.web.auth import add_operator

    new = add_operator(path, args.name, password)
    print(f"{args.name}\t{'added' if new else 'password changed'}\t{path}")
    return 0
