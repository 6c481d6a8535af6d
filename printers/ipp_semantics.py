"""What IPP attributes mean to the plant, shared by the drivers that speak IPP (CUPS through pycups, and
direct IPP).

Pure functions over attribute mappings (name → value, a tuple or list for several values, None for IPP
no-value): the document format of a file, the media keyword of a ticket's paper name, whether a printer-state-
reason stops the printer, the protocol's printer status, and the proof that a job never started (a withdrawal
decides by it, :func:`withdraw_with_proof`). Each driver keeps only what differs: how it talks, and its own
state messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from printers._values import as_int, as_items
from printers.errors import InvalidTicket
from printers.protocol import JobState, JobTicket, PrinterState, PrinterStatus

#: Document formats the plant prints, by the bytes their files start with.
DOCUMENT_MAGIC: tuple[tuple[bytes, str], ...] = ((b"%PDF-", "application/pdf"), (b"RaS2", "image/pwg-raster"))
#: IPP media keywords (PWG 5101.1) for the paper names the plant's tickets use.
MEDIA_KEYWORDS: Mapping[str, str] = {
    "A3": "iso_a3_297x420mm",
    "A4": "iso_a4_210x297mm",
    "A5": "iso_a5_148x210mm",
    "Letter": "na_letter_8.5x11in",
    "Legal": "na_legal_8.5x14in",
}
#: Job states from which a job can be taken back, if it never started.
WITHDRAWABLE = (JobState.PENDING, JobState.HELD)
#: printer-state-reasons that stop a printer even without the "-error" suffix (RFC 8011 reads a reason without
#: suffix as an error, but CUPS adds suffix-less reasons of its own, e.g. "connecting-to-device", that are
#: not).
STOPPING_REASONS = frozenset(
    {
        "media-jam",
        "media-empty",
        "media-needed",
        "toner-empty",
        "marker-supply-empty",
        "cover-open",
        "door-open",
        "input-tray-missing",
        "output-area-full",
        "paused",
        "shutdown",
        "offline",
        "stopped-partly",
        "interlock-open",
    }
)
#: Severity suffixes of a printer-state-reason keyword.
REASON_SUFFIXES = ("-report", "-warning", "-error")


def document_format(path: Path) -> str | None:
    """The IPP document-format of a file, read from its first bytes (None if it is neither PDF nor PWG
    raster)."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    return next((mime for magic, mime in DOCUMENT_MAGIC if head.startswith(magic)), None)


def media_keyword(media: str) -> str | None:
    """The IPP media keyword for a ticket's paper name; PWG self-describing names pass through as they are."""
    if media in MEDIA_KEYWORDS:
        return MEDIA_KEYWORDS[media]
    return media if media.count("_") >= 2 else None


def ticket_format(ticket: JobTicket, *, missing: str, directory: str) -> str:
    """The IPP document-format of a ticket's document; InvalidTicket when there is no file (``missing`` and
    ``directory`` say what is wrong, in the driver's words) or it is neither PDF nor PWG raster."""
    try:
        fmt = document_format(ticket.pdf_path)
    except FileNotFoundError:
        raise InvalidTicket(ticket.job_id, f"its document {str(ticket.pdf_path)!r} {missing}") from None
    except IsADirectoryError:
        raise InvalidTicket(ticket.job_id, f"its document {str(ticket.pdf_path)!r} {directory}") from None
    if fmt is None:
        raise InvalidTicket(
            ticket.job_id, f"its document {str(ticket.pdf_path)!r} is neither a PDF nor a PWG raster file"
        )
    return fmt


def ticket_media(ticket: JobTicket) -> str:
    """The IPP media keyword of a ticket's paper; InvalidTicket when the paper has no IPP name."""
    media = media_keyword(ticket.media)
    if media is None:
        raise InvalidTicket(
            ticket.job_id,
            f"media {ticket.media!r} has no IPP name; use one of "
            f"{', '.join(MEDIA_KEYWORDS)} or a PWG media name",
        )
    return media


def keywords(value: object) -> tuple[str, ...]:
    """An IPP 1setOf keyword (one value, or a tuple/list of them) without the empty value 'none'."""
    values = (value,) if value is None or isinstance(value, str) else tuple(as_items(value))
    return tuple(str(v) for v in values if v not in (None, "none"))


def stops_printer(reason: str) -> bool:
    """True for a printer-state-reason that means the printer cannot print until someone acts."""
    for suffix in REASON_SUFFIXES:
        if reason.endswith(suffix):
            return suffix == "-error"
    return reason in STOPPING_REASONS


def printer_status(name: str, attributes: Mapping[str, object]) -> PrinterStatus:
    """The protocol's view of a printer: stopped when it says so, or when a reason stops it.

    CUPS keeps a queue "processing" while the device behind it reports e.g. ``media-empty-error``; the plant
    must see that the press needs an operator, so such a reason makes the printer STOPPED here.
    """
    state = PrinterState(as_int(attributes["printer-state"]))
    reasons = keywords(attributes.get("printer-state-reasons"))
    if any(stops_printer(reason) for reason in reasons):
        state = PrinterState.STOPPED
    return PrinterStatus(name, state, reasons, as_int(attributes.get("queued-job-count") or 0))


def never_started(attributes: Mapping[str, object]) -> bool:
    """True when the printer reports the job never entered processing and counts no impression or sheet of it.

    ``time-at-processing`` must be present and without a value (IPP no-value, read as None): a printer or
    server that does not report it proves nothing.
    """
    return (
        "time-at-processing" in attributes
        and attributes["time-at-processing"] is None
        and not as_int(attributes.get("job-impressions-completed") or 0)
        and not as_int(attributes.get("job-media-sheets-completed") or 0)
    )


def may_withdraw(attributes: Mapping[str, object]) -> bool:
    """True for a job worth canceling to take it back: waiting (pending or held) and never started."""
    return as_int(attributes["job-state"]) in WITHDRAWABLE and never_started(attributes)


def withdrawn_unprinted(attributes: Mapping[str, object]) -> bool:
    """True for a job that is canceled and never started: no byte of it reached the printer, so no sheet
    exists."""
    return as_int(attributes["job-state"]) == JobState.CANCELED and never_started(attributes)


def withdraw_with_proof(proof: Callable[[], Mapping[str, object] | None], cancel: Callable[[], None]) -> bool:
    """Take a job back only if it never started; True when provably no sheet of it exists.

    ``proof()`` reads the job's attributes (None when the job is no longer ours); a job that
    :func:`may_withdraw` is canceled with ``cancel()`` and the answer is read again after it, so a job that
    started meanwhile answers False. Any other job is left alone and answers False.
    """
    seen = proof()
    if seen is not None and may_withdraw(seen):
        cancel()
        seen = proof()  # decide from what the device says after the cancel
    return seen is not None and withdrawn_unprinted(seen)
