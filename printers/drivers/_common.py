"""What every driver does the same way, written once."""

from __future__ import annotations

from typing import Protocol

from printers.errors import UnknownJob
from printers.protocol import JobStatus


class _FindsJobs(Protocol):
    """A driver's half of the Printer protocol that :func:`require_job` needs."""

    @property
    def name(self) -> str: ...

    def find(self, job_id: str) -> JobStatus | None: ...


def require_job(printer: _FindsJobs, job_id: str) -> JobStatus:
    """The job's status as ``printer.find`` reports it; UnknownJob when the device does not have the job.

    This is every driver's ``status``: the protocol's ``find`` answers None for an unknown job, ``status``
    raises.
    """
    found = printer.find(job_id)
    if found is None:
        raise UnknownJob(printer.name, job_id)
    return found
