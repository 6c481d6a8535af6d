"""Pre-flight of letter PDFs: what a letter is checked against, and the process-wide sandbox pool checking it.

:func:`check_spec` turns the settings into a :class:`~plant.intake.pdfcheck.CheckSpec`: A4 portrait within the
configured tolerance, no more sheets (pages, or pairs of pages for a duplex letter) than the largest envelope
of the fleet takes, the DIN 5008 form-B address
field, and the clear zones where the plant prints — the control DataMatrix zone on every page and the tracking
barcode zone on the first, both read from :class:`imposition.MarkLayout` so pre-flight and imposition never
disagree, plus the OMR strip when one is configured. :func:`preflight_letters` runs letters through the pool
(:mod:`plant.intake.sandbox`); :func:`check_pdf` is the same check in-process, for trusted files and tests.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Container, Iterable, Sequence
from pathlib import Path

from imposition import MarkLayout
from imposition.geometry import A4_HEIGHT, A4_WIDTH, DIN5008_B_ADDRESS_FIELD, Rect, mm
from plant.config import Settings
from plant.intake.pdfcheck import CheckSpec, Code, Verdict, Zone, check, reject
from plant.intake.sandbox import Limits, PreflightPool, Task

__all__ = ["Verdict", "address_lines", "check_pdf", "check_spec", "preflight_letters", "shared_pool"]

_pools: dict[tuple[CheckSpec, Limits, int], PreflightPool] = {}
_pools_lock = threading.Lock()


def _box(rect: Rect) -> tuple[float, float, float, float]:
    return (rect.x, rect.y, rect.w, rect.h)


def check_spec(
    settings: Settings | None = None, max_pages: int | None = None, layout: MarkLayout | None = None
) -> CheckSpec:
    """The check of the plant described by ``settings`` (defaults when None)."""
    settings = settings or Settings()
    layout = layout or settings.mark_layout()
    intake = settings.intake
    zones = [
        Zone("control-code zone", Code.CONTROL_ZONE_NOT_CLEAR, _box(layout.control_zone)),
        Zone(
            "tracking-barcode zone",
            Code.BARCODE_ZONE_NOT_CLEAR,
            _box(layout.tracking_zone),
            first_page_only=True,
        ),
    ]
    if intake.omr_zone_mm:
        zones.append(Zone("OMR strip", Code.OMR_ZONE_NOT_CLEAR, _box(Rect.from_mm(*intake.omr_zone_mm))))
    return CheckSpec(
        max_pages=max_pages if max_pages is not None else max(i.max_sheets for i in settings.inserters),
        page_width=A4_WIDTH,
        page_height=A4_HEIGHT,
        tolerance=mm(intake.page_tolerance_mm),
        window=_box(DIN5008_B_ADDRESS_FIELD),
        zones=tuple(zones),
        zone_dpi=intake.zone_dpi,
        white_level=intake.white_level,
        allow_standard_fonts=intake.allow_standard_fonts,
    )


def limits(settings: Settings) -> Limits:
    """The sandbox limits configured in ``settings``."""
    intake = settings.intake
    return Limits(
        memory_mb=intake.preflight_memory_mb, cpu_s=intake.preflight_cpu_s, wall_s=intake.preflight_wall_s
    )


def shared_pool(settings: Settings) -> PreflightPool:
    """The process's pool for ``settings`` (started once, reused by every pre-flight, stopped at exit)."""
    key = (check_spec(settings), limits(settings), settings.intake.preflight_workers)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = PreflightPool(key[0], key[1], key[2])
        return pool


@atexit.register
def close_pools() -> None:
    """Stop every pool this process started."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


def address_lines(name: str, address_1: str, address_2: str, postcode: str, city: str) -> tuple[str, ...]:
    """The manifest values that must show in the window field (the country is optional on domestic mail)."""
    return tuple(v for v in (name, address_1, address_2, postcode, city) if v and v.strip())


def preflight_letters(
    settings: Settings,
    letters: Iterable[tuple[object, Path, Sequence[str]]],
    pool: PreflightPool | None = None,
    duplex: Container[object] = frozenset(),
) -> dict[object, Verdict]:
    """Check ``(key, pdf path, address lines)`` letters in the sandbox; a verdict per key. The letters whose
    key is in ``duplex`` are printed duplex: their page limit is counted in sheets of two pages.

    Files larger than the configured limit are refused unread; everything else is read from the plant's own
    blob store here and handed to a child as bytes.
    """
    pool = pool or shared_pool(settings)
    most = settings.intake.max_letter_mb * 2**20
    verdicts: dict[object, Verdict] = {}
    tasks = []
    for key, path, address in letters:
        size = Path(path).stat().st_size
        if size > most:
            verdicts[key] = reject(
                Code.FILE_TOO_LARGE,
                f"the file is {size / 2**20:.0f} MiB; the plant takes letters "
                f"up to {settings.intake.max_letter_mb} MiB: compress its "
                "images or split it.",
            )
            continue
        tasks.append(Task(key, Path(path).read_bytes, tuple(address), key in duplex))
    verdicts.update(pool.check(tasks))
    return verdicts


def check_pdf(
    path: Path,
    max_pages: int,
    address: Sequence[str] = (),
    settings: Settings | None = None,
    duplex: bool = False,
) -> Verdict:
    """Check the letter at ``path`` in this process (trusted files only: no sandbox); ``max_pages`` sheets per
    envelope (two pages a sheet when ``duplex``)."""
    data = Path(path).read_bytes()
    return check(data, check_spec(settings, max_pages=max_pages), address, duplex)
