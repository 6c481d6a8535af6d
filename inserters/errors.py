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


class BadRunId(InserterError):
    """A run id that cannot name the run's files on the inserter (it must be a plain file name)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"Run id {run_id!r} cannot be sent to an inserter; use letters, digits, '.', '_' or '-' "
                         "(at most 128, starting with a letter or digit).")


class RunRejected(InserterError):
    """The inserter refused a run it was sent (its mail run data file is malformed); nothing was enveloped."""

    def __init__(self, inserter: str, run_id: str, problem: str) -> None:
        self.inserter, self.run_id, self.problem = inserter, run_id, problem
        super().__init__(f"Inserter {inserter!r} rejected run {run_id}: {problem}. No piece was enveloped; fix the "
                         "mail run data and send it under a new run id.")


class UnknownInserterKind(InserterError):
    """The configuration names an inserter kind this library does not have."""

    def __init__(self, kind: str, known: tuple[str, ...]) -> None:
        self.kind, self.known = kind, known
        super().__init__(f"Unknown inserter kind {kind!r}; configure one of: {', '.join(known)}.")
