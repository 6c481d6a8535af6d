"""Impose letters in child processes under a timeout and an address-space limit, measuring each one.

``python -m tests.fuzz.imposer`` is a fork server: it imports :mod:`imposition` and the plant's settings
once, imposes a warm-up letter, then for each request (a JSON line on stdin) forks a child that lowers its
``RLIMIT_AS`` and ``RLIMIT_CPU`` and imposes the letter as one piece — the plant's layout (its first
printer's, simplex, as :func:`plant.stages.impose.job_layout` gives a simplex job), every mark on (control
code, tracking barcode, a signed postage mark) — into a temporary file, then checks the print file opens
cleanly. The server kills a child still running at the timeout, reaps it with ``wait4`` (its peak RSS) and
answers with a JSON line: what happened, the exception's type, message and attributes, the wall time and the
peak RSS. A hang, a blow-up or a crash is so an answer, not a stuck test.

:class:`Imposer` is the parent's side.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

#: A valid S10 tracking id for the tracking barcode.
TRACKING_ID = "RR100000015ZZ"
#: The fuzzer's postage signing key (fixed, so marks are the same on every run).
_KEY_BYTES = bytes(range(32))


def _plant_job() -> tuple[Any, Any, str]:
    """The plant's layout for a simplex job, its marks, and a signed postage mark for the piece."""
    from dataclasses import replace

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from imposition import Duplex, Marks
    from plant.config import load_settings
    from plant.postage.marks import make_payload
    from tracking.postage import encode_mark

    settings = load_settings(environ={})
    layout = replace(settings.imposition_layout(settings.printers[0]), duplex=Duplex.NONE)
    payload = make_payload(settings, "P1", TRACKING_ID, "standard", 20.0, 1_767_225_600)
    postage = encode_mark(payload, Ed25519PrivateKey.from_private_bytes(_KEY_BYTES))
    return layout, Marks(geometry=settings.mark_layout()), postage


def _impose(pdf: str, out: str, job: tuple[Any, Any, str], pages: int | None = None) -> dict[str, Any]:
    from imposition import ImpositionError, PieceInput, impose

    layout, marks, postage = job
    try:
        sheet_map = impose(
            # as the plant does: the page count pre-flight found goes with the piece
            [PieceInput("P1", Path(pdf), tracking_id=TRACKING_ID, postage=postage, pages=pages)],
            Path(out),
            "J1",
            layout,
            marks,
        )
    except ImpositionError as exc:
        return {
            "status": "refused",
            "type": type(exc).__name__,
            "message": str(exc),
            "code": _plain(getattr(exc, "code", None)),
            "piece_id": _plain(getattr(exc, "piece_id", None)),
            "senders_fault": _plain(getattr(exc, "senders_fault", None)),
        }
    except BaseException as exc:  # noqa: BLE001 - any other exception is what the fuzzer looks for
        return {
            "status": "exception",
            "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "message": str(exc)[:2000],
            "traceback": traceback.format_exc()[-4000:],
        }
    paths = getattr(sheet_map, "paths", None)
    return {
        "status": "imposed",
        "output": _check_output(out, sheet_map.sheet_count),
        "sheets": sheet_map.sheet_count,
        "pages": len({r.page for r in sheet_map.records if r.piece_id == "P1" and r.page}),
        "copy": sorted(getattr(paths, "reasons", {}) or {}) if paths is not None else [],
    }


def _check_output(out: str, sheets: int) -> str | None:
    """What is wrong with the print file written (None: it opens cleanly with one page per sheet side)."""
    import pikepdf

    try:
        with pikepdf.open(out) as pdf:
            warnings = pdf.get_warnings()
            pages = len(pdf.pages)
            problems = [p for p in pdf.check_pdf_syntax() if not p.startswith("WARNING")]
    except pikepdf.PdfError as exc:
        return f"the print file does not open: {exc}"
    if warnings or problems:
        return f"the print file is damaged: {'; '.join([*warnings, *problems])[:300]}"
    if pages < sheets:
        return f"the print file has {pages} pages for {sheets} sheets"
    return None


def _plain(value: object) -> object:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _serve_one(request: dict[str, Any], job: tuple[Any, Any, str]) -> dict[str, Any]:
    limit = _vm_size() + int(request["memory_mb"]) * 2**20
    cpu = int(request["timeout_s"]) + 1
    read_end, write_end = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: limits, impose, answer, exit without cleanup
        code = 0
        try:
            os.close(read_end)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            used = resource.getrusage(resource.RUSAGE_SELF)
            resource.setrlimit(resource.RLIMIT_CPU, (int(used.ru_utime + used.ru_stime) + cpu,) * 2)
            result = _impose(request["pdf"], request["out"], job, request.get("pages"))
            os.write(write_end, json.dumps(result).encode())
        except BaseException:  # noqa: BLE001 - the child must never return into the server's loop
            code = 70
        finally:
            os._exit(code)
    os.close(write_end)
    answer = bytearray()
    deadline = started + float(request["timeout_s"])
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([read_end], [], [], left)
        if ready:
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            answer += chunk
    os.close(read_end)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.monotonic() - started
    measured = {"wall_s": elapsed, "rss_mb": usage.ru_maxrss / 1024, "limit_mb": limit / 2**20}
    if timed_out:
        return {"status": "timeout", **measured}
    if answer:
        try:
            return {**json.loads(answer), **measured}
        except ValueError:
            pass
    how = (
        f"signal {signal.Signals(os.WTERMSIG(status)).name}"
        if os.WIFSIGNALED(status)
        else f"exit {os.WEXITSTATUS(status)}"
    )
    return {"status": "crashed", "how": how, **measured}


def main() -> None:
    """Serve requests (JSON lines on stdin) until stdin closes."""
    hello = json.loads(sys.stdin.readline())
    job = _plant_job()
    warm = _impose(hello["warm_up"], hello["warm_up"] + ".out.pdf", job)
    Path(hello["warm_up"] + ".out.pdf").unlink(missing_ok=True)
    sys.stdout.write(json.dumps({"ready": warm["status"] == "imposed", "warm_up": warm}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        answer = _serve_one(request, job)
        Path(request["out"]).unlink(missing_ok=True)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


class Imposer:
    """The parent's side of one fork server: :meth:`impose` a letter file, get the server's answer."""

    def __init__(self, warm_up: Path, timeout_s: float = 20.0, memory_mb: int = 1024) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        root = Path(__file__).resolve().parents[2]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(root),
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/nc"),
            "LANG": "C.UTF-8",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.imposer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=root,
            text=True,
        )
        hello = self._ask({"warm_up": str(warm_up)})
        if not hello.get("ready"):
            self.close()
            raise RuntimeError(f"the imposing server did not impose its warm-up letter: {hello}")

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the imposing server died (exit {self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def impose(self, pdf: Path, out: Path, pages: int | None = None) -> dict[str, Any]:
        """Impose ``pdf`` into ``out`` (deleted again) in a fresh child, with the page count pre-flight found
        (``pages``, as the plant passes it); the server's answer."""
        return self._ask(
            {
                "pdf": str(pdf),
                "out": str(out),
                "timeout_s": self.timeout_s,
                "memory_mb": self.memory_mb,
                "pages": pages,
            }
        )

    def close(self) -> None:
        """Stop the server (closing its stdin ends it)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Imposer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


if __name__ == "__main__":
    main()
