"""Ledger table of the QA station (loaded on start with every ``schema_*.py``).

- ``qa_results``: one row per inspected sample image (``plant qa``): when, which image, the piece it was found
  to be (NULL when no code named a piece of the ledger), the tracking id read in the window, every code read
  with its grade and the piece it names, the lowest DataMatrix grade, the minimum it was held to, and the
  verdict with its reasons. The piece's history gets a ``qa`` event beside it; its lifecycle state is never
  changed by QA.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from plant.ledger.schema import metadata

qa_results = Table(
    "qa_results",
    metadata,
    Column("qa_id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    #: The image file as the station named it.
    Column("image", Text, nullable=False),
    #: The sampled piece: the one its tracking id names, else its control code, else its postage mark.
    Column("piece_id", Integer, ForeignKey("pieces.piece_id")),
    #: The tracking id read in the window, as read (it may name no piece).
    Column("tracking_id", Text),
    #: ``pass`` or ``fail``.
    Column("verdict", String(8), nullable=False),
    #: Lowest overall grade (A–F) of the DataMatrix symbols read; NULL when none was read.
    Column("grade", String(1)),
    #: ``qa.min_grade`` at the time of the inspection.
    Column("min_grade", String(1), nullable=False),
    #: Why it failed, one sentence each (empty when it passed).
    Column("reasons", JSON, nullable=False),
    #: Every code read: kind, format, text, grade, the ISO/IEC 15415 parameters, the piece it names.
    Column("codes", JSON, nullable=False),
)
Index("ix_qa_results_at", qa_results.c.at)
Index("ix_qa_results_piece", qa_results.c.piece_id)
