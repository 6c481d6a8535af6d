"""The house rules that a reader of the tree relies on: the command line documented as built, argparse and
print only in the command line, one error tree, few loose modules, typed libraries."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from plant.cli import build_parser
from plant.errors import PlantError

ROOT = Path(__file__).resolve().parents[2]
PLANT = ROOT / "plant"


def _commands() -> set[str]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return set(sub.choices)


def _modules(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_every_command_has_a_handler():
    """Each command of the table sets its handler (set_defaults(func=…)), so none can be reached without
    one."""
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    missing = [name for name, command in sub.choices.items() if not callable(command.get_default("func"))]
    assert missing == []


def test_the_readme_lists_exactly_the_commands_of_plant_help():
    """The README's command block names every command `plant --help` lists, and no other."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## The command line", 1)[1].split("```", 2)[1]
    listed = set()
    for line in block.splitlines():
        match = re.match(r"plant ([a-z|-]+)", line)
        if match:
            listed |= set(match.group(1).split("|"))
    assert listed == _commands()


def test_no_argparse_or_print_outside_the_command_line():
    """Only plant/cli/ parses arguments and prints; everything else returns values, raises or logs."""
    offenders = []
    for path, tree in _modules(PLANT):
        if path.is_relative_to(PLANT / "cli"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + (
                    [node.module] if isinstance(node, ast.ImportFrom) else []
                )
                if "argparse" in names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports argparse")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} calls print")
    assert offenders == []


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_plant_error_lives_in_an_errors_module():
    """The one error tree: every PlantError subclass is defined in plant/errors.py or a package's
    errors.py."""
    for path, _ in _modules(PLANT):  # import every module, so that every subclass is defined
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if name.endswith("__main__"):
            continue
        __import__(name)
    elsewhere = [
        f"{c.__module__}.{c.__qualname__}"
        for c in _subclasses(PlantError)
        if c.__module__.startswith("plant.") and not c.__module__.endswith("errors")
    ]
    assert elsewhere == []


def test_plant_keeps_few_loose_modules():
    """`ls plant/` shows the house: families in folders, at most ten loose modules."""
    loose = sorted(p.name for p in PLANT.glob("*.py"))
    assert len(loose) <= 10, loose


@pytest.mark.parametrize("library", ["imposition", "tracking", "printers", "inserters"])
def test_libraries_ship_their_types(library):
    """Each library says it is typed (PEP 561), so users' type checkers read its annotations."""
    assert (ROOT / library / "py.typed").exists()
