"""Logging: structlog, JSON when stderr is not a terminal, readable when it is.

Every line about a piece carries its ``letter_id`` and ``tracking_id`` (bound by the stage that logs it).
"""

from __future__ import annotations

import logging
import sys

import structlog

from plant.config import LogFormat


def configure(fmt: LogFormat = LogFormat.AUTO, level: int | None = None) -> None:
    """Configure structlog (and the stdlib loggers dramatiq uses) once per process.

    On a terminal the default level is WARNING, so progress bars stay readable (workers' INFO lines go to
    ``<state_dir>/logs/worker.log``); elsewhere INFO, as JSON.
    """
    as_json = fmt is LogFormat.JSON or (fmt is LogFormat.AUTO and not sys.stderr.isatty())
    if level is None:
        level = logging.WARNING if sys.stderr.isatty() else logging.INFO
    renderer = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *_: _StderrLogger(),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is at that moment (never a stream closed since configure)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg
