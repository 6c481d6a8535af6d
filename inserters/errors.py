"""The inserter library's errors: one base, data attached, and a message that says what to do."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

#: What an operator does about an inserter's stop reason (our keywords, in the style of IPP
#: printer-state-reasons).
REMEDIES: dict[str, str] = {
    "envelope-jam": "take the jammed envelope out of the track, then clear the stop on the inserter's panel",
    "sheet-jam": "take the jammed sheets out of the collating track, then clear the stop",
    "double-feed": "take the double-fed sheets out of the feeder, square the stack, then clear the stop",
    "feeder-empty": "load the next sheets into the feeder, then clear the stop",
    "envelopes-empty": "refill the envelope hopper, then clear the stop",
    "sealer-empty": "refill the sealer's water, then clear the stop",
    "output-full": "empty the output stacker, then clear the stop",
    "cover-open": "close the cover, then clear the stop",
    "paused": "resume the inserter on its panel",
    "offline": "bring the inserter online",
}

#: What we tell the operator when no reason we know explains the stop.
DEFAULT_REMEDY = "check the inserter's panel, fix what it reports, then clear the stop"

#: Suffixes that qualify a reason keyword's severity (as IPP's printer-state-reasons do).
REASON_SUFFIXES = ("-report", "-warning", "-error")


def remedy_for(reasons: Iterable[str]) -> str:
    """The operator action for the first reason we know, so a stop message always ends in a fix."""
    for reason in reasons:
        for suffix in REASON_SUFFIXES:
            if reason.endswith(suffix):
                reason = reason[: -len(suffix)]
                break
        if reason in REMEDIES:
            return REMEDIES[reason]
    return DEFAULT_REMEDY


class InserterError(Exception):
    """Base of every error the inserter library raises."""


class InserterStopped(InserterError):
    """The inserter stopped by itself (a jam, an empty hopper, an open cover, …) and needs an operator."""

    def __init__(self, inserter: str, reasons: Iterable[str]) -> None:
        self.inserter, self.reasons = inserter, tuple(reasons)
        shown = ", ".join(self.reasons) or "no reason given"
        super().__init__(f"Inserter {inserter!r} is stopped ({shown}); {remedy_for(self.reasons)}.")


class MachineStatusUnreadable(InserterError):
    """The inserter's machine status file cannot be read or does not follow the documented format."""

    def __init__(self, inserter: str, path: Path, detail: str) -> None:
        self.inserter, self.path, self.detail = inserter, Path(path), detail
        super().__init__(
            f"Inserter {inserter!r} wrote an unreadable machine status {path} ({detail}); check the "
            "inserter's status writer, then ask again."
        )


class DuplicateRun(InserterError):
    """The inserter already has a run of this id; sending it again could envelope pieces twice."""

    def __init__(self, inserter: str, run_id: str) -> None:
        self.inserter, self.run_id = inserter, run_id
        super().__init__(
            f"Inserter {inserter!r} already has run {run_id}; ask it for the run's result instead of "
            "sending it again."
        )


class UnknownRun(InserterError):
    """The inserter has no run of this id."""

    def __init__(self, inserter: str, run_id: str) -> None:
        self.inserter, self.run_id = inserter, run_id
        super().__init__(f"Inserter {inserter!r} has no run {run_id}; submit the run first.")


class MailRunFileError(InserterError):
    """A mail run data or result file is malformed; the message names the file, line and field."""

    def __init__(self, path: Path, line: int, field: str, problem: str) -> None:
        self.path, self.line, self.field, self.problem = Path(path), line, field, problem
        super().__init__(
            f"{path} line {line}, field {field!r}: {problem}; fix the file or regenerate it from the host."
        )


class UnreadableStack(InserterError):
    """The printed sheets file of a run cannot be read at all."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path, self.detail = Path(path), detail
        super().__init__(
            f"The printed sheets {path} cannot be read ({detail}); check the press output and "
            "resubmit the run."
        )


class BadRunId(InserterError):
    """A run id that cannot name the run's files on the inserter (it must be a plain file name)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"Run id {run_id!r} cannot be sent to an inserter; use letters, digits, '.', '_' or '-' "
            "(at most 128, starting with a letter or digit)."
        )


class RunRejected(InserterError):
    """The inserter refused a run it was sent (its mail run data file is malformed); nothing was enveloped."""

    def __init__(self, inserter: str, run_id: str, problem: str) -> None:
        self.inserter, self.run_id, self.problem = inserter, run_id, problem
        super().__init__(
            f"Inserter {inserter!r} rejected run {run_id}: {problem}. No piece was enveloped; fix the "
            "mail run data and send it under a new run id."
        )


class UnknownInserterKind(InserterError):
    """The configuration names an inserter kind this library does not have."""

    def __init__(self, kind: str, known: tuple[str, ...]) -> None:
        self.kind, self.known = kind, known
        super().__init__(f"Unknown inserter kind {kind!r}; configure one of: {', '.join(known)}.")
