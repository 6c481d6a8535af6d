"""The inserter library's errors: one base, data attached, and a message that says what to do."""

from __future__ import annotations

from pathlib import Path


class InserterError(Exception):
    """Base of every error the inserter library raises."""


class DuplicateRun(InserterError):
    """The inserter already has a run of this id; sending it again could envelope pieces twice."""

    def __init__(self, inserter: str, run_id: str) -> None:
        self.inserter, self.run_id = inserter, run_id
        super().__init__(f"Inserter {inserter!r} already has run {run_id}; ask it for the run's result instead of "
                         "sending it again.")


class UnknownRun(InserterError):
    """The inserter has no run of this id."""

    def __init__(self, inserter: str, run_id: str) -> None:
        self.inserter, self.run_id = inserter, run_id
        super().__init__(f"Inserter {inserter!r} has no run {run_id}; submit the run first.")


class MailRunFileError(InserterError):
    """A mail run data or result file is malformed; the message names the file, line and field."""

    def __init__(self, path: Path, line: int, field: str, problem: str) -> None:
        self.path, self.line, self.field, self.problem = Path(path), line, field, problem
        super().__init__(f"{path} line {line}, field {field!r}: {problem}; fix the file or regenerate it from "
                         "the host.")


class UnreadableStack(InserterError):
    """The printed sheets file of a run cannot be read at all."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path, self.detail = Path(path), detail
        super().__init__(f"The printed sheets {path} cannot be read ({detail}); check the press output and "
                         "resubmit the run.")
