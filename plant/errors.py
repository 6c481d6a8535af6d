"""The plant's one error tree.

Every error the controller raises on purpose derives from :class:`PlantError`. Each carries the data it is
about as attributes and a message that tells the operator what to do. The CLI maps classes to exit codes
through :attr:`PlantError.exit_code`.
"""

from __future__ import annotations


class PlantError(Exception):
    """Base of every error the plant raises for an operator or a sender to act on."""

    #: Process exit code the CLI uses for this family of errors.
    exit_code = 1

    def __init__(self, message: str, **data: object) -> None:
        super().__init__(message)
        self.data = data
        for key, value in data.items():
            setattr(self, key, value)


class ConfigError(PlantError):
    """Wrong configuration (plant.toml or environment); the message names the key and what is allowed."""

    exit_code = 78  # EX_CONFIG


class SubmissionError(PlantError):
    """A whole submission is refused (nothing of it was accepted); the message says what to fix."""

    exit_code = 65  # EX_DATAERR


class IllegalTransition(PlantError):
    """A piece was asked to move along an edge the lifecycle does not have."""

    exit_code = 70  # EX_SOFTWARE

    def __init__(self, state: str, event: str) -> None:
        super().__init__(
            f"A piece in state {state} cannot take event {event}; "
            "check the piece's history with `plant status` before acting on it.",
            state=state,
            event=event,
        )


class IdRangeExhausted(PlantError):
    """The configured tracking-id range has no identifiers left."""

    exit_code = 75  # EX_TEMPFAIL

    def __init__(self, service: str, country: str, first: int, last: int, wanted: int, left: int) -> None:
        super().__init__(
            f"The tracking-id range {service}{first:08d}–{last:08d}{country} has {left} ids left but "
            f"{wanted} are needed; add a new range under [ids] in plant.toml, then run `plant resume`.",
            service=service,
            country=country,
            first=first,
            last=last,
            wanted=wanted,
            left=left,
        )


class NotFound(PlantError):
    """An id given by the user names nothing in the ledger."""

    exit_code = 66  # EX_NOINPUT


class ServiceError(PlantError):
    """A service the plant needs (Redis, the database, a worker) is not reachable or died."""

    exit_code = 69  # EX_UNAVAILABLE


class Stalled(PlantError):
    """A run stopped moving: letters or jobs wait on an operator (held, a job that cannot be imposed, a
    stopped printer). The message names them, the cause and what to do."""

    exit_code = 75  # EX_TEMPFAIL: fix the cause, then `plant resume`


class SampleUnreadable(PlantError):
    """A sample file cannot be opened as an image (nothing was inspected, nothing recorded)."""

    exit_code = 66  # EX_NOINPUT

    #: The sample file (set by :class:`PlantError` from the data).
    image: str


class QaUsageError(PlantError):
    """``plant qa`` was called with arguments that do not make one of its two forms."""

    exit_code = 2  # like argparse's own usage errors


class ImposeFailed(PlantError):
    """``plant impose`` could not impose the folder; the imposition library's message says what to fix."""

    exit_code = 65  # EX_DATAERR


class Refused(PlantError):
    """An action the piece's state does not allow; the message names the state and what to do instead."""


class MovedMeanwhile(Refused):
    """The piece moved between reading it and the compare-and-set (a stage got there first): try again."""


class IdRangesExhausted(IdRangeExhausted):
    """The configured ranges of one id kind cannot supply the ids asked for."""

    def __init__(self, kind: str, ranges: str, wanted: int, left: int) -> None:
        PlantError.__init__(
            self,
            f"The {kind} tracking-id range(s) {ranges} have {left} ids left but {wanted} are needed; add a "
            "new range under [[tracking.ranges]] in plant.toml, then run `plant resume`.",
            kind=kind,
            ranges=ranges,
            wanted=wanted,
            left=left,
        )


class PostageKeyMissing(ConfigError):
    """The postage signing or verification key the plant needs is not where the configuration says."""


class ScanUnreadable(PlantError):
    """A scan file cannot be opened as an image."""

    exit_code = 66  # EX_NOINPUT


class CompositionError(PlantError):
    """An XML letter cannot be composed; the letter is rejected with :attr:`code` and the message."""

    exit_code = 65

    #: The rejection code the letter is rejected with (set by :class:`PlantError` from the data).
    code: str

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class NotDigital(PlantError):
    """A read receipt names a letter that was not delivered digitally."""

    exit_code = 65


class DiskFull(PlantError):
    """A write found no room (ENOSPC or EDQUOT): nothing was half-written, and the work is tried again by
    itself once there is room."""

    exit_code = 75  # EX_TEMPFAIL: free space, the plant goes on

    #: The file (or folder) that could not be written (set by :class:`PlantError` from the data).
    path: str
    #: Bytes the write needed.
    needed_bytes: int

    def __init__(self, path: object, needed_bytes: int) -> None:
        needed_mb = max(1, -(-int(needed_bytes) // 1_000_000))
        super().__init__(
            f"disk full at {path}: {needed_mb} MB needed; free space there (or move the state dir), the "
            "plant goes on by itself when there is room.",
            path=str(path),
            needed_bytes=int(needed_bytes),
        )


class StoredObjectMissing(PlantError):
    """A key of the plant's storage (:mod:`plant.storage.store`) names no stored object."""

    exit_code = 66  # EX_NOINPUT

    #: The storage key asked for (set by :class:`PlantError` from the data).
    key: str
    #: Where the store keeps its objects: a folder, or the database's URL without its password.
    where: str

    def __init__(self, key: str, where: object) -> None:
        super().__init__(
            f"No stored object {key!r} in {where}: it was never stored there or was deleted. Check that "
            "every machine of the plant uses the same [storage] backend and database; a letter's or job's "
            "file is made again by running its stage again (`plant resume`).",
            key=key,
            where=str(where),
        )
