"""The pre-flight sandbox: a pool of child processes that open untrusted PDFs under hard limits.

Each child is ``python -m plant.intake.sandbox``: it imports PDFium once, then locks itself down before it
reads a single letter —

- no network: a new user and network namespace (``unshare``), where the kernel offers one;
- no files: ``RLIMIT_NOFILE`` is cut to the descriptors already open, so ``open()`` and ``socket()`` fail,
  and ``RLIMIT_FSIZE`` is 0; the letter's bytes arrive over its stdin, the verdict leaves over its stdout;
- memory: ``RLIMIT_AS`` (an allocation beyond it fails, or PDFium aborts the child);
- CPU: ``RLIMIT_CPU`` is moved to "used so far + the letter's budget" before each letter (SIGXCPU ends it);
- wall clock: the parent kills a child whose letter takes longer than the limit;
- no core dumps, no children, and it dies with its parent (``PR_SET_PDEATHSIG``).

A child checks one letter at a time, so PDFium (not thread-safe) is serialised per process, and children are
reused across letters and submissions. A child that dies or is killed costs only its letter, which is rejected
with a code saying which limit it hit; the pool starts a fresh child and goes on. Verdicts come back as JSON —
never pickle — because a child that parsed hostile bytes is not trusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import structlog

from plant.errors import ServiceError
from plant.intake.pdfcheck import CheckSpec, Code, Verdict, reject

log = structlog.get_logger(__name__)

#: Frame header: payload length, 4 bytes big-endian.
_HEADER = struct.Struct(">I")
#: Largest frame a child may send back (a verdict with its overlay pictures).
MAX_REPLY_BYTES = 64 * 1024 * 1024
#: Seconds a new child may take to start and lock itself down.
START_TIMEOUT_S = 30.0
#: Bytes read from a child's pipe at a time.
READ_CHUNK = 1 << 20
#: Letters handed to a child ahead of the one it works on, so it never waits for the parent.
PIPELINE_DEPTH = 2
#: Linux clone flags for a new user and network namespace.
_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
#: prctl option: signal sent to the child when its parent dies.
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Limits:
    """What one letter may cost in a child: address space (MiB), CPU seconds, wall-clock seconds."""

    memory_mb: int = 1024
    cpu_s: int = 10
    wall_s: float = 20.0


@dataclass(frozen=True)
class Task:
    """One letter to check: its key (the caller's), a loader of its bytes, the manifest's address lines, and
    whether it is printed duplex (two pages a sheet, so an envelope takes twice the pages)."""

    key: Hashable
    load: Callable[[], bytes]
    address: tuple[str, ...] = ()
    duplex: bool = False


@dataclass
class PoolStats:
    """What the pool did since it started (for logs and benchmarks)."""

    checked: int = 0
    killed_wall: int = 0
    died: int = 0
    started: int = 0


@dataclass
class _Child:
    proc: subprocess.Popen[bytes]
    #: The child's stdin (letters go in) and stdout (verdicts come out): the pipes of ``proc``.
    stdin: IO[bytes]
    stdout: IO[bytes]
    buffer: bytearray = field(default_factory=bytearray)
    #: Letters handed to the child, oldest (the one it works on) first, with their message ids.
    queue: deque[tuple[Task, int]] = field(default_factory=deque)
    #: When the oldest letter's wall-clock limit runs out.
    deadline: float = 0.0

    @property
    def task(self) -> Task | None:
        """The letter the child works on now."""
        return self.queue[0][0] if self.queue else None


class PreflightPool:
    """A pool of sandboxed pre-flight children; :meth:`check` runs a batch of letters through it.

    One batch at a time per pool (a lock guards it), so a pool can be shared by the threads of a worker.
    """

    def __init__(self, spec: CheckSpec, limits: Limits = Limits(), workers: int = 0) -> None:
        self.spec = spec
        self.limits = limits
        self.size = workers or os.cpu_count() or 1
        self.stats = PoolStats()
        self._children: list[_Child] = []
        self._lock = threading.Lock()
        self._next_id = 0

    # -- life ------------------------------------------------------------------------------------------------
    def __enter__(self) -> PreflightPool:
        self.start()
        return self

    def start(self) -> None:
        """Start the children now (otherwise the first :meth:`check` does)."""
        with self._lock:
            while len(self._children) < self.size:
                self._children.append(self._spawn())

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every child (closing its stdin ends it; a stuck one is killed)."""
        with self._lock:
            for child in self._children:
                _stop(child.proc)
            self._children.clear()

    def pids(self) -> list[int]:
        """Process ids of the live children."""
        return [c.proc.pid for c in self._children if c.proc.poll() is None]

    # -- work ------------------------------------------------------------------------------------------------
    def check(self, tasks: Iterable[Task]) -> dict[Hashable, Verdict]:
        """Check every task's letter in the children; return a verdict per key (never raises for a letter)."""
        self.start()
        with self._lock:
            return self._run(deque(tasks))

    def _run(self, pending: deque[Task]) -> dict[Hashable, Verdict]:
        verdicts: dict[Hashable, Verdict] = {}
        self._pending = pending
        while pending or any(c.queue for c in self._children):
            for index in range(len(self._children)):
                self._feed(index, verdicts)
            busy = {c.stdout.fileno(): c for c in self._children if c.queue}
            if not busy:
                continue
            timeout = max(0.0, min(c.deadline for c in busy.values()) - time.monotonic())
            readable, _, _ = select.select(list(busy), [], [], timeout)
            for fd in readable:
                self._receive(busy[fd], verdicts)
            now = time.monotonic()
            for index, child in enumerate(self._children):
                if child.queue and now >= child.deadline:
                    self._lose(child, verdicts, self._killed_for_time(child))
                if child.proc.poll() is not None:
                    self._lose(child, verdicts, None)
                    self._children[index] = self._spawn()
        return verdicts

    def _feed(self, index: int, verdicts: dict[Hashable, Verdict]) -> None:
        """Keep child ``index`` supplied with up to :data:`PIPELINE_DEPTH` letters."""
        pending = self._pending
        while len(self._children[index].queue) < PIPELINE_DEPTH and pending:
            task = pending.popleft()
            try:
                data = task.load()
            except OSError as exc:
                log.warning("preflight_letter_unreadable", key=str(task.key), error=str(exc))
                verdicts[task.key] = reject(
                    Code.BROKEN_PDF,
                    "the plant could not read its stored copy of the letter; submit the letter again.",
                )
                continue
            if not self._send(self._children[index], task, data):
                pending.appendleft(task)
                self._lose(self._children[index], verdicts, None)
                self._children[index] = self._spawn()

    def _send(self, child: _Child, task: Task, data: bytes) -> bool:
        """Hand ``task`` to ``child``; False when the child is gone (the caller replaces it)."""
        self._next_id += 1
        header = json.dumps(
            {"id": self._next_id, "address": list(task.address), "duplex": task.duplex}
        ).encode()
        try:
            _write_frame(child.stdin, header)
            _write_frame(child.stdin, data)
            child.stdin.flush()
        except (BrokenPipeError, OSError):
            _stop(child.proc, kill=True)
            return False
        if not child.queue:
            child.deadline = time.monotonic() + self.limits.wall_s
        child.queue.append((task, self._next_id))
        return True

    def _receive(self, child: _Child, verdicts: dict[Hashable, Verdict]) -> None:
        """Read what ``child`` sent; settle every whole answer; a child gone mid-letter loses that letter."""
        chunk = os.read(child.stdout.fileno(), READ_CHUNK)
        child.buffer += chunk
        while child.queue and len(child.buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(child.buffer)
            if size > MAX_REPLY_BYTES:
                _stop(child.proc, kill=True)
                self._lose(
                    child,
                    verdicts,
                    reject(
                        Code.CRASHED,
                        "pre-flight produced an oversized answer for this "
                        "PDF; re-export it and submit it again.",
                    ),
                )
                return
            if len(child.buffer) < _HEADER.size + size:
                break
            payload = bytes(child.buffer[_HEADER.size : _HEADER.size + size])
            del child.buffer[: _HEADER.size + size]
            try:
                reply = json.loads(payload)
                if reply.get("id") != child.queue[0][1]:
                    raise ValueError("answer for another letter")
                verdict = Verdict.from_json(reply["verdict"])
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("preflight_bad_answer", pid=child.proc.pid, error=str(exc))
                _stop(child.proc, kill=True)
                self._lose(
                    child,
                    verdicts,
                    reject(
                        Code.CRASHED,
                        "pre-flight could not finish checking this PDF; export it again and resubmit it.",
                    ),
                )
                return
            self._settle(child, verdicts, verdict)
        if not chunk and child.queue:  # end of file before a whole answer: the child died on its letter
            self._lose(child, verdicts, self._died(child))

    def _settle(self, child: _Child, verdicts: dict[Hashable, Verdict], verdict: Verdict) -> None:
        task, _ = child.queue.popleft()
        verdicts[task.key] = verdict
        self.stats.checked += 1
        child.deadline = time.monotonic() + self.limits.wall_s

    def _lose(self, child: _Child, verdicts: dict[Hashable, Verdict], verdict: Verdict | None) -> None:
        """``child`` is gone: its current letter gets ``verdict`` (when it is to blame); the rest go back."""
        if verdict is not None and child.queue:
            self._settle(child, verdicts, verdict)
        self._pending.extendleft(reversed([task for task, _ in child.queue]))
        child.queue.clear()
        child.buffer.clear()

    def _killed_for_time(self, child: _Child) -> Verdict:
        _stop(child.proc, kill=True)
        self.stats.killed_wall += 1
        log.warning("preflight_killed", reason="wall clock", seconds=self.limits.wall_s, pid=child.proc.pid)
        return reject(
            Code.TIMEOUT,
            f"reading the PDF took longer than {self.limits.wall_s:g} s and was stopped; "
            "simplify the PDF (flatten, fewer objects) and submit it again.",
        )

    def _died(self, child: _Child) -> Verdict:
        code = child.proc.wait()
        self.stats.died += 1
        log.warning("preflight_child_died", exit_code=code, pid=child.proc.pid)
        if code == -signal.SIGXCPU:
            return reject(
                Code.CPU_LIMIT,
                f"reading the PDF used more than {self.limits.cpu_s} s of CPU and was "
                "stopped; simplify the PDF and submit it again.",
            )
        return reject(
            Code.CRASHED,
            "reading the PDF stopped the pre-flight check, most likely because it needs more than "
            f"{self.limits.memory_mb} MiB of memory; simplify the PDF (flatten, smaller images) and submit "
            "it again.",
        )

    def _spawn(self) -> _Child:
        package_root = Path(__file__).resolve().parents[2]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(package_root),
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "LANG": "C.UTF-8",
        }
        proc = subprocess.Popen(
            [sys.executable, "-s", "-m", "plant.intake.sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            close_fds=True,
        )
        stdin, stdout = proc.stdin, proc.stdout
        if stdin is None or stdout is None:  # both were asked for as pipes; refuse a child without them
            _stop(proc, kill=True)
            raise ServiceError(
                "A pre-flight child was started without its stdin/stdout pipes; report this as a bug."
            )
        hello = json.dumps(
            {"spec": self.spec.to_json(), "memory_mb": self.limits.memory_mb, "cpu_s": self.limits.cpu_s}
        ).encode()
        _write_frame(stdin, hello)
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], START_TIMEOUT_S)
        reply = _read_frame(stdout) if ready else None
        if not reply:
            _stop(proc, kill=True)
            raise ServiceError(
                "A pre-flight child did not start within "
                f"{START_TIMEOUT_S:.0f} s; run `python -m plant.intake.sandbox` by hand to see why."
            )
        self.stats.started += 1
        state = json.loads(reply)
        if not state.get("network_isolated"):
            log.info(
                "preflight_no_netns", pid=proc.pid, note="no network namespace; relying on RLIMIT_NOFILE"
            )
        return _Child(proc, stdin, stdout)


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


def _write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)))
    stream.write(payload)


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    return data if len(data) == size else None


def _stop(proc: subprocess.Popen[bytes], kill: bool = False) -> None:
    if proc.poll() is None:
        if kill:
            proc.kill()
        else:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


# ---- the child ---------------------------------------------------------------------------------------------
def _lock_down(memory_mb: int) -> bool:
    """Apply the child's limits; return True when it also got a network namespace of its own."""
    import ctypes
    import resource

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    isolated = bool(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    _warm_up()
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, highest + 1))
    return isolated


def _warm_up() -> None:
    """Open and render a one-page PDF, so PDFium's lazy start-up (fonts, tables) is done before files shut,
    and measure its page as imposition does (qpdf and the shared page geometry loaded before files shut)."""
    import io

    import pikepdf
    import pypdfium2 as pdfium

    from plant.intake.pdfcheck import measure

    measure(_WARM_UP_PDF, 1)
    with pikepdf.open(io.BytesIO(_WARM_UP_PDF)) as warm:  # qpdf's crypto loads its provider on first use
        encrypted = io.BytesIO()
        warm.save(encrypted, encryption=pikepdf.Encryption(owner="warm-up", user=""))
    measure(encrypted.getvalue(), 1)
    pdf = pdfium.PdfDocument(_WARM_UP_PDF)
    page = pdf[0]
    page.render(scale=0.2, grayscale=True).close()
    textpage = page.get_textpage()
    textpage.get_text_bounded()
    textpage.close()
    page.close()
    pdf.close()


#: A minimal one-page PDF with a line of Helvetica text (used by :func:`_warm_up`).
_WARM_UP_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>"
    b">>endobj\n4 0 obj<</Length 35>>stream\nBT /F1 12 Tf 20 100 Td (warm) Tj ET\nendstream endobj\n"
    b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _page_geometry_only() -> None:
    """Make ``imposition`` importable for its page geometry alone (:mod:`imposition.pagebox`,
    :mod:`imposition.pieces`): the package is registered without running its ``__init__``, whose eager imports
    (Numba among them) take hundreds of MiB of address space a child's memory limit has no room for."""
    import importlib.util

    if "imposition" in sys.modules:
        return
    spec = importlib.util.find_spec("imposition")
    if spec is None:
        return
    sys.modules["imposition"] = importlib.util.module_from_spec(spec)


def child_main() -> None:
    """Serve letters on stdin/stdout until stdin closes (the entry point of a pre-flight child)."""
    import resource

    _page_geometry_only()
    from plant.intake.pdfcheck import check

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    hello = _read_frame(stdin)
    if hello is None:
        return
    config = json.loads(hello)
    spec = CheckSpec.from_json(config["spec"])
    isolated = _lock_down(int(config["memory_mb"]))
    cpu_budget = int(config["cpu_s"])
    _write_frame(stdout, json.dumps({"ready": True, "network_isolated": isolated}).encode())
    stdout.flush()
    while True:
        header = _read_frame(stdin)
        if header is None:
            return
        data = _read_frame(stdin)
        if data is None:
            return
        task = json.loads(header)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(usage.ru_utime + usage.ru_stime) + cpu_budget
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
        fatal = False
        try:
            verdict = check(data, spec, tuple(task["address"]), bool(task.get("duplex")))
        except MemoryError:
            fatal = True
            verdict = reject(
                Code.MEMORY_LIMIT,
                f"reading the PDF needs more than {config['memory_mb']} MiB; "
                "simplify the PDF and submit it again.",
            )
        except RecursionError:
            verdict = reject(
                Code.BROKEN_PDF,
                "the PDF's internal structure nests without end and cannot be read; export it again.",
            )
        except Exception:  # noqa: BLE001 - any failure on hostile bytes is that letter's rejection
            verdict = reject(
                Code.BROKEN_PDF,
                "the PDF's internal structure is damaged and cannot be read; export it again from the "
                "application that made it.",
            )
        del data
        _write_frame(stdout, json.dumps({"id": task["id"], "verdict": verdict.to_json()}).encode())
        stdout.flush()
        if fatal:
            return


if __name__ == "__main__":
    child_main()
