"""Errors of the scheduler, in the plant's one error tree.

A bad instance is the caller's to fix, so :class:`ScheduleError` names the field, the value it got and what is
allowed; a plan that breaks a constraint is reported by :class:`InfeasiblePlan` with every violation attached.
"""

from __future__ import annotations

from plant.errors import PlantError


class ScheduleError(PlantError):
    """An instance (or a re-plan request) is malformed; the message names the field and what is allowed."""

    exit_code = 65  # EX_DATAERR

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(
            f"Scheduling input {field}={value!r} is not allowed: {allowed}.",
            field=field,
            value=value,
            allowed=allowed,
        )


class InfeasiblePlan(PlantError):
    """A plan breaks one or more constraints of its instance; :attr:`violations` lists them all."""

    exit_code = 70  # EX_SOFTWARE

    def __init__(self, violations: tuple[str, ...]) -> None:
        shown = "; ".join(violations[:5]) + (f"; … {len(violations) - 5} more" if len(violations) > 5 else "")
        super().__init__(
            f"The plan breaks {len(violations)} constraint(s): {shown}. This is a planner bug; "
            "report it with the instance file.",
            violations=violations,
        )
