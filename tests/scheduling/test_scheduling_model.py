"""The instance model: reference conventions, validation messages, the JSON exchange format."""

from __future__ import annotations

import pytest

from plant.errors import PlantError
from plant.scheduling import (
    Inserter,
    Instance,
    Job,
    Pin,
    Printer,
    ScheduleError,
    instance_from_json,
    instance_to_json,
    plan,
    plan_from_json,
    plan_to_json,
)
from plant.scheduling.model import insert_seconds, print_seconds


@pytest.mark.parametrize(
    ("pieces", "sheets", "speed", "seconds"),
    [
        (10, 1, 60, 10),
        (1, 1, 300, 1),
        (500, 3, 150, 600),
        (7, 1, 100, 5),
        (1, 1, 120.5, 1),
        (3, 7, 150.5, 9),
    ],
)
def test_print_seconds_round_up(pieces, sheets, speed, seconds):
    """Print time is ⌈60 · pieces · sheets / speed⌉."""
    assert print_seconds(pieces, sheets, speed) == seconds


@pytest.mark.parametrize(
    ("pieces", "rate", "seconds"), [(14_000, 14_000, 3600), (1, 14_000, 1), (3, 8000, 2)]
)
def test_insert_seconds_round_up(pieces, rate, seconds):
    """Insert time is ⌈3600 · pieces / envelopes_per_hour⌉."""
    assert insert_seconds(pieces, rate) == seconds


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Instance((), (), ()), "printers"),
        (lambda: Instance((Printer("P", 0),), (), ()), "printers[P].sheets_per_min"),
        (lambda: Instance((Printer("P", 10), Printer("P", 10)), (), ()), "printers.id"),
        (lambda: Instance((Printer("P", 10),), (Inserter("K", 10, 0),), ()), "inserters[K].max_sheets"),
        (lambda: Instance((Printer("P", 10),), (), (Job("J", 0, 1, 5),)), "jobs[J].pieces"),
        (lambda: Instance((Printer("P", 10),), (), (Job("J", 1, 1, 5, -1),)), "jobs[J].ready_s"),
        (lambda: Instance((Printer("P", 10),), (), (Job("J", 1, True, 5),)), "jobs[J].sheets_per_piece"),
        (lambda: Instance((Printer("P", 10),), (), (Job("J", 1, 1, 5),), (Pin("X", "P", 0, 1),)), "pins.job"),
        (
            lambda: Instance((Printer("P", 10),), (), (Job("J", 1, 1, 5),), (Pin("J", "Q", 0, 1),)),
            "pins[J].printer",
        ),
    ],
)
def test_bad_instance_names_the_field(build, field):
    """A malformed instance raises ScheduleError (a PlantError) naming the field and what is allowed."""
    with pytest.raises(ScheduleError) as err:
        build()
    assert isinstance(err.value, PlantError)
    assert err.value.field == field
    assert "not allowed" in str(err.value)


def test_json_missing_field_is_named():
    """A required field missing from INSTANCE.json is named in the error."""
    with pytest.raises(ScheduleError, match=r"jobs\[\]\.due_s"):
        instance_from_json(
            {
                "printers": [{"id": "P", "sheets_per_min": 1}],
                "inserters": [],
                "jobs": [{"id": "J", "pieces": 1, "sheets_per_piece": 1}],
            }
        )


def test_minimal_issue_format_is_read():
    """The issue's minimal format (no optional fields) is a valid instance."""
    inst = instance_from_json(
        {
            "printers": [{"id": "P", "sheets_per_min": 100}],
            "inserters": [{"id": "K", "envelopes_per_hour": 8000, "max_sheets": 6}],
            "jobs": [{"id": "J", "pieces": 10, "sheets_per_piece": 2, "due_s": 60}],
        }
    )
    assert inst.jobs == (Job("J", 10, 2, 60),)


def test_instance_and_plan_round_trip():
    """Instance and plan survive JSON unchanged."""
    inst = Instance(
        (Printer("P", 100.5, 3, True),),
        (Inserter("K", 8000, 6, 0, False), Inserter("L", 9000, 6)),
        (Job("J", 10, 2, 60, 4, True), Job("I", 5, 1, 600)),
        (Pin("J", "P", 0, 12),),
    )
    assert instance_from_json(instance_to_json(inst)) == inst
    result = plan(inst, 0.01)
    assert plan_from_json(plan_to_json(result)) == result
