"""Which pieces the QA station pulls: systematic sampling of a submission in production order.

The submission's printed pieces are put in the order the inserters made them — by print job (in the order the
jobs were created) and by sequence within the job — and every ``every``-th is taken, starting at position
``offset``: positions ``offset``, ``offset + every``, ``offset + 2·every``, … The positions are counted over
all the submission's pieces that have a job, so whether a piece is picked never depends on how far the others
have got; only the picked pieces that are INSERTED or DISPATCHED (in an envelope, so there is something to
pull) are listed. The same ledger always gives the same list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, and_, select

from plant.errors import NotFound, PlantError
from plant.ledger import schema as t
from plant.model import State

#: States in which a piece is in its envelope: the ones a sample can be pulled from.
PULLABLE = (State.INSERTED, State.DISPATCHED)


@dataclass(frozen=True)
class SamplePick:
    """One piece to pull: its position in production order and where to find it."""

    position: int
    piece_id: int
    tracking_id: str
    letter_id: str
    job_id: str
    run_id: str | None
    seq: int
    state: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def sample_plan(
    conn: Connection, submission_id: str, every: int, offset: int = 0
) -> tuple[list[SamplePick], int]:
    """The pieces of ``submission_id`` to pull (see the module), and how many pieces were counted."""
    if every < 1 or not 0 <= offset < every:
        raise PlantError(
            f"--every {every} --offset {offset}: take every N-th piece with N ≥ 1 and an offset from 0 "
            "to N − 1.",
            every=every,
            offset=offset,
        )
    if (
        conn.execute(
            select(t.submissions.c.submission_id).where(t.submissions.c.submission_id == submission_id)
        ).first()
        is None
    ):
        raise NotFound(
            f"No submission {submission_id!r} in the ledger; check the id printed by `plant run`.",
            submission=submission_id,
        )
    p, letters, jobs, jp = t.pieces.c, t.letters.c, t.print_jobs.c, t.job_pieces.c
    rows = conn.execute(
        select(p.piece_id, p.tracking_id, letters.letter_id, p.job_id, p.run_id, jp.seq, letters.state)
        .select_from(
            t.pieces.join(t.letters, letters.pk == p.letter_pk)
            .join(t.print_jobs, jobs.job_id == p.job_id)
            .join(t.job_pieces, and_(jp.job_id == p.job_id, jp.piece_id == p.piece_id))
        )
        .where(letters.submission_id == submission_id)
        .order_by(jobs.number, jp.seq)
    ).all()
    pullable = {s.value for s in PULLABLE}
    picks = [
        SamplePick(position, *row)
        for position, row in enumerate(rows)
        if position % every == offset and row.state in pullable
    ]
    return picks, len(rows)
