"""Logging: structlog, JSON when stderr is not a terminal, readable when it is.

Every line about a piece carries its ``letter_id`` and ``tracking_id`` (bound by the stage that logs it).

Importing structlog takes a tenth of a second (it loads ``rich`` for its console tracebacks, and
``asyncio``), which a command that never logs (``plant status``, ``plant plan``) should not pay. So
:func:`configure` sets structlog up at once only when it is loaded already, and otherwise the moment something
first imports it — before that module can log a line.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from importlib.abc import Loader
from importlib.machinery import ModuleSpec
from importlib.util import find_spec
from types import ModuleType
from typing import Any

from plant.config import LogFormat


def configure(fmt: LogFormat = LogFormat.AUTO, level: int | None = None) -> None:
    """Configure structlog (and the stdlib loggers dramatiq uses) once per process.

    On a terminal the default level is WARNING, so progress bars stay readable (workers' INFO lines go to
    ``<state_dir>/logs/worker.log``); elsewhere INFO, as JSON.
    """
    as_json = fmt is LogFormat.JSON or (fmt is LogFormat.AUTO and not sys.stderr.isatty())
    if level is None:
        level = logging.WARNING if sys.stderr.isatty() else logging.INFO
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    _OnImport.cancel("structlog")
    if "structlog" in sys.modules:
        _configure_structlog(as_json, level)
    else:
        sys.meta_path.insert(0, _OnImport("structlog", lambda: _configure_structlog(as_json, level)))


def _configure_structlog(as_json: bool, level: int) -> None:
    import structlog

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


#: Environment variable naming an inherited file descriptor (a session's terminal) that takes a worker's
#: warnings and errors when its own log cannot (plant.runtime.session sets it).
ALERT_FD = "PLANT_ALERT_FD"


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is at that moment (never a stream closed since
    configure).

    A line the log cannot take (its file is on a full disk) never fails the code that logs it: a warning or an
    error goes instead to :data:`ALERT_FD` (the session's terminal) when there is one, else to syslog; an
    info line is dropped."""

    def msg(self, message: str) -> None:
        self._write(message, alert=False)

    def warning(self, message: str) -> None:
        self._write(message, alert=True)

    log = debug = info = msg
    warn = err = error = critical = exception = fatal = warning

    @staticmethod
    def _write(message: str, alert: bool) -> None:
        stream = sys.stderr
        try:
            stream.write(message + "\n")  # one write: lines of concurrent threads do not interleave
            stream.flush()
        except (OSError, ValueError):  # no room for the log (ENOSPC, EDQUOT) or it is gone
            if alert:
                _elsewhere(message)


def _elsewhere(message: str) -> None:
    """``message`` where a full disk cannot lose it: the alert descriptor, else syslog (journald)."""
    fd = os.environ.get(ALERT_FD, "")
    if fd.isdigit():
        try:
            os.write(int(fd), f"[plant worker {os.getpid()}] {message}\n".encode())
            return
        except OSError:
            pass
    try:
        import syslog

        syslog.openlog("plant", syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(syslog.LOG_WARNING, message)
    except OSError:  # pragma: no cover - no syslog either: nowhere left to say it
        pass


class _OnImport:
    """A finder on ``sys.meta_path`` that runs ``then`` right after module ``name`` is first imported, before
    the module importing it goes on; it leaves the finding and loading to the other finders, and then
    leaves."""

    def __init__(self, name: str, then: Callable[[], None]) -> None:
        self.name, self.then = name, then

    @classmethod
    def cancel(cls, name: str) -> None:
        """Take back a hook for ``name`` that has not run yet (the newer configuration wins)."""
        sys.meta_path[:] = [f for f in sys.meta_path if not (isinstance(f, cls) and f.name == name)]

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname != self.name:
            return None
        _OnImport.cancel(self.name)
        spec = find_spec(fullname)  # the other finders' answer
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenLoader(spec.loader, self.then)
        return spec


class _ThenLoader(Loader):
    """Loads like ``loader``, then calls ``then``."""

    def __init__(self, loader: Loader, then: Callable[[], None]) -> None:
        self.loader, self.then = loader, then

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        self.then()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)
