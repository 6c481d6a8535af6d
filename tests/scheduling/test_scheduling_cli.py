"""`plant plan INSTANCE.json [--time-limit S]`: the sub-command's parser, its output and its errors."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from plant.cli.plan import cmd_plan
from plant.cli.plan import register as add_parser
from plant.scheduling import ScheduleError, check, instance_from_json, instance_to_json, plan_from_json
from tests.scheduling.helpers import instance


@pytest.fixture
def instance_file(tmp_path):
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(instance_to_json(instance([("A", 10, 1, 30), ("B", 20, 2, 1000)]))))
    return path


def _parse(argv):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config")
    parser = argparse.ArgumentParser(prog="plant")
    add_parser(parser.add_subparsers(dest="command"), [common])
    return parser.parse_args(argv)


def test_parser_reads_instance_and_time_limit(instance_file):
    """`plan FILE --time-limit 0.2` parses with the common parent options."""
    args = _parse(["plan", str(instance_file), "--time-limit", "0.2", "--config", "x.toml"])
    assert (args.command, args.instance, args.time_limit, args.config) == (
        "plan",
        instance_file,
        0.2,
        "x.toml",
    )


def test_cmd_plan_prints_a_checked_plan(instance_file, capsys):
    """The command prints PLAN.json: per job devices and times, makespan, late jobs, lower bound."""
    assert cmd_plan(None, _parse(["plan", str(instance_file), "--time-limit", "0.01"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"makespan_s", "late_jobs", "lower_bound_s", "jobs"} <= out.keys()
    assert set(out["jobs"][0]) == {
        "id",
        "printer",
        "print_start_s",
        "print_end_s",
        "inserter",
        "insert_start_s",
        "insert_end_s",
    }
    inst = instance_from_json(json.loads(instance_file.read_text()))
    assert check(inst, plan_from_json(out)) == ()


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "existing JSON file"), ("{", "valid JSON"), ('{"printers": []}', "inserters")],
)
def test_bad_input_raises_schedule_error(tmp_path, content, words):
    """A missing, broken or incomplete instance file raises ScheduleError saying what is wrong."""
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ScheduleError, match=words):
        cmd_plan(None, _parse(["plan", str(path)]))


def test_module_runs_stand_alone(instance_file, tmp_path):
    """`python -m plant.scheduling.cli FILE` prints the plan; a bad file exits with the error's code."""
    done = subprocess.run(
        [sys.executable, "-m", "plant.cli.plan", str(instance_file), "--time-limit", "0.01"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and json.loads(done.stdout)["late_jobs"] == []
    bad = subprocess.run(
        [sys.executable, "-m", "plant.cli.plan", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == ScheduleError.exit_code and "existing JSON file" in bad.stderr
