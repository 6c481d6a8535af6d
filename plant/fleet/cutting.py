"""Cutting N-up work in front of the inserter: the job's cut spec, written at imposition, and the cut the
insert stage waits for.

A job imposed N-up (2-up cut and stack on A3/SRA3, web 2-up) leaves the press as sheets holding two leaves
each. The cutter/stacker of the inserter line (:mod:`inserters.cutter`) cuts them into leaves in job order,
and the inserter's camera reads every leaf. The impose stage writes the job's cut spec next to its PDF
(``<job>.pdf.cut.json``); the insert stage hands the printed sheets to the cutter once, keyed by the run id
(the cutter knows it as ``<plant id>-<run id>``: :func:`plant.fleet.devices.cutter_driver`), polls it while it
cuts (the run stays CREATED), and feeds the inserter the cut leaves. A cutter fault — a sheet destroyed or put
out of sequence by a misfeed — needs nothing special here: the inserter misses or diverts the pieces
concerned, and the reconciliation spoils and reprints them with their ids. 1-up work goes straight in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy import Row

from imposition import Layout, SheetMap, Side
from inserters import Backs, CutJob, CutSpec, DuplicateCut
from plant.config import Settings
from plant.errors import ServiceError
from plant.fleet.devices import cutter_driver
from plant.storage.files import atomic_write

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Feed:
    """What the inserter is fed for a run: the sheets (cut leaves for N-up work) and the cut's facts for the
    run's event (empty for 1-up work)."""

    sheets_pdf: Path
    cutting: dict[str, Any] = field(default_factory=dict)


class RunningPlant(Protocol):
    """What :func:`feed` reads of the running plant (:class:`plant.stages.context.Plant`, a layer above)."""

    settings: Settings
    #: The ledger's plant id, which names the cut on the cutter.
    plant_id: str


def cut_spec_path(pdf_path: Path | str) -> Path:
    """Where the cut spec of the job printed from ``pdf_path`` is kept."""
    return Path(f"{pdf_path}.cut.json")


def write_cut_spec(pdf_path: Path, layout: Layout, sheet_map: SheetMap) -> None:
    """Write the cut spec of the job imposed by ``layout`` (an ``imposition.Layout``) into ``pdf_path``; none
    for 1-up work, which needs no cutting."""
    path = cut_spec_path(pdf_path)
    if layout.n_up == 1:
        path.unlink(missing_ok=True)
        return
    leaves = Counter(r.stack for r in sheet_map if r.side is Side.FRONT)
    spec = CutSpec(
        layout.sheet.points,
        tuple(astuple(layout.slot_rect(slot)) for slot in range(layout.n_up)),
        tuple(leaves[stack] for stack in sorted(leaves)),
        Backs(layout.duplex.value),
    )
    atomic_write(path, spec.to_json().encode())


def leaves_per_piece(pdf_path: Path | str) -> dict[str, int]:
    """Leaves (the sheets in the envelope) of each piece of the job printed from ``pdf_path``, from its sheet
    map: fewer than its pages in duplex work. Empty when the job has no sheet map."""
    path = Path(f"{pdf_path}.map.json")
    if not path.exists():
        return {}
    return {r.piece_id: r.sheets_in_piece for r in SheetMap.from_json(path.read_text())}


def feed(plant: RunningPlant, run: Row[Any], job: Row[Any], printed: Path) -> Feed | None:
    """What the inserter of ``run`` is fed from the ``printed`` sheets of ``job``: the sheets themselves for
    1-up work; for N-up work the cutter's leaves once it has cut them, None while it cuts (the cut is
    submitted once, under the run id, and a repeated message finds it)."""
    spec_path = cut_spec_path(job.pdf_path)
    if not spec_path.exists():
        return Feed(printed)
    cutter = cutter_driver(plant.settings, run.inserter, plant.plant_id)
    found = cutter.find(run.run_id)
    if found is None:
        try:
            cutter.submit(CutJob(run.run_id, job.job_id, printed, CutSpec.from_json(spec_path.read_text())))
            log.info(
                "cut_submitted",
                run=run.run_id,
                job=job.job_id,
                cutter=cutter.name,
                device_name=cutter.device_name(run.run_id),
            )
        except DuplicateCut:  # another delivery of this message submitted it between our find and our submit
            pass
        return None
    if not found.finished:
        return None
    facts = {
        "cutter": cutter.name,
        "device_name": cutter.device_name(run.run_id),
        "leaves": found.leaves,
        "sheets_received": found.sheets_received,
        "sheets_expected": found.sheets_expected,
        "destroyed": list(found.destroyed),
        "misfed": list(found.misfed),
        "message": found.message,
    }
    if found.faulted:
        log.warning("cut_faulted", run=run.run_id, job=job.job_id, **facts)
    if found.output_pdf is None:  # a finished cut always names its leaves; its result file is damaged
        raise ServiceError(
            f"Cutter {cutter.name} finished the cut of run {run.run_id} (as "
            f"{cutter.device_name(run.run_id)}) without an output PDF; check its result file.",
            cutter=cutter.name,
            run=run.run_id,
        )
    return Feed(found.output_pdf, facts)
