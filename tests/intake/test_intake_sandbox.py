"""The pre-flight sandbox on a hostile corpus: real child processes under memory, CPU and wall-clock limits.

Every hostile letter ends rejected (or accepted) with a reason within the limits, the good letters of the same
batch go through untouched, the pool stays healthy, and nothing in a child reaches the network or a file.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from plant.intake.pdfcheck import Code
from plant.intake.preflight import check_spec
from plant.intake.sandbox import Limits, PreflightPool, Task
from tests.intake import hostile
from tests.intake.letters import ROW, address_of, write

#: Limits small enough to keep the tests quick, large enough for every good letter.
TEST_LIMITS = Limits(memory_mb=512, cpu_s=4, wall_s=3.0)


@pytest.fixture(scope="module")
def pool():
    """Two sandboxed children shared by the module's tests."""
    with PreflightPool(check_spec(max_pages=6), TEST_LIMITS, workers=2) as shared:
        yield shared


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A sound two-page letter's bytes."""
    return write(tmp_path_factory.mktemp("good") / "good.pdf").read_bytes()


def corpus(good: bytes) -> dict[str, bytes]:
    """The issue's hostile PDFs (the 200 MB file is refused before the sandbox: see test_intake_pipeline)."""
    locked = _encrypted(good)
    return {
        "flate_bomb": hostile.flate_bomb(2**30),
        "huge_length": hostile.huge_length(),
        "xref_prev_loop": hostile.xref_prev_loop(),
        "xref_stream_loop": hostile.xref_stream_loop(),
        "pages_loop": hostile.pages_loop(),
        "truncated": hostile.truncated(good),
        "html": hostile.html_as_pdf(),
        "zip": hostile.zip_as_pdf(),
        "empty": b"",
        "encrypted": locked,
        "form_laughs": hostile.form_laughs(7),
    }


def _encrypted(good: bytes) -> bytes:
    import io

    import pikepdf

    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(good)) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(owner="owner", user="user"))
    return out.getvalue()


@pytest.fixture(scope="module")
def batch(pool, good):
    """The hostile corpus checked in one batch with three good letters between them."""
    letters = corpus(good)
    tasks = [Task(f"good-{i}", lambda: good, address_of(ROW)) for i in range(3)]
    tasks[1:1] = [Task(name, lambda data=data: data, address_of(ROW)) for name, data in letters.items()]
    return pool.check(tasks), letters


def test_every_letter_gets_a_verdict(batch):
    """Each letter of the batch, hostile or not, ends with a verdict."""
    verdicts, letters = batch
    assert set(verdicts) == set(letters) | {"good-0", "good-1", "good-2"}


def test_good_letters_of_a_hostile_batch_pass(batch):
    """The sound letters between the hostile ones pass untouched."""
    verdicts, _ = batch
    assert all(verdicts[f"good-{i}"].ok and verdicts[f"good-{i}"].pages == 2 for i in range(3))


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("flate_bomb", {Code.CRASHED, Code.MEMORY_LIMIT, Code.BROKEN_PDF, Code.TIMEOUT, Code.CPU_LIMIT}),
        ("xref_prev_loop", {Code.BROKEN_PDF}),
        ("pages_loop", {Code.BROKEN_PDF, Code.NO_PAGES}),
        ("truncated", {Code.BROKEN_PDF}),
        ("html", {Code.NOT_PDF}),
        ("zip", {Code.NOT_PDF}),
        ("empty", {Code.NOT_PDF}),
        ("encrypted", {Code.ENCRYPTED}),
        ("form_laughs", {Code.CRASHED, Code.MEMORY_LIMIT, Code.TIMEOUT, Code.CPU_LIMIT}),
    ],
)
def test_hostile_letter_is_rejected_with_a_reason(batch, name, codes):
    """Each hostile PDF is rejected with one of the codes that describe it, and a reason."""
    verdicts, _ = batch
    assert verdicts[name].code in codes and verdicts[name].reason


@pytest.mark.parametrize("name", ["huge_length", "xref_stream_loop"])
def test_lying_structure_ends_with_a_verdict(batch, name):
    """A lying /Length or a self-referencing xref stream ends accepted or rejected with a reason (PDFium
    repairs some of them), never hanging the batch."""
    verdict = batch[0][name]
    assert verdict.ok or verdict.reason


def test_the_pool_stays_healthy_after_the_corpus(pool, batch, good):
    """After the corpus the pool has its two live children and checks a good letter."""
    verdict = pool.check([Task("after", lambda: good, address_of(ROW))])["after"]
    assert verdict.ok and len(pool.pids()) == 2


def test_a_letter_that_runs_too_long_is_killed_on_the_wall_clock(good):
    """A letter still running at the wall-clock limit has its child killed and gets PREFLIGHT_TIMEOUT; the
    next letter goes to a fresh child."""
    with PreflightPool(
        check_spec(max_pages=6), Limits(memory_mb=2048, cpu_s=60, wall_s=0.5), workers=1
    ) as one:
        (before,) = one.pids()
        verdicts = one.check([Task("slow", lambda: hostile.form_laughs(6)), Task("good", lambda: good)])
        assert verdicts["slow"].code == Code.TIMEOUT and verdicts["good"].ok
        assert one.pids() and one.pids()[0] != before


def test_a_letter_that_burns_cpu_is_stopped_by_its_cpu_limit():
    """A letter using more CPU than allowed is stopped by RLIMIT_CPU: PREFLIGHT_CPU_LIMIT."""
    with PreflightPool(check_spec(max_pages=6), Limits(memory_mb=2048, cpu_s=1, wall_s=60), workers=1) as one:
        verdict = one.check([Task("slow", lambda: hostile.form_laughs(6))])["slow"]
    assert verdict.code == Code.CPU_LIMIT and "1 s of CPU" in verdict.reason


def test_children_have_no_network(pool):
    """Every child lives in a network namespace of its own (no route to any host)."""
    ours = os.readlink("/proc/self/ns/net")
    assert all(os.readlink(f"/proc/{pid}/ns/net") != ours for pid in pool.pids())


def test_children_cannot_open_files(pool):
    """Every child's open-file limit is cut to the descriptors it already holds; its file-size limit is 0."""
    for pid in pool.pids():
        limits = Path(f"/proc/{pid}/limits").read_text()
        nofile = next(line for line in limits.splitlines() if line.startswith("Max open files")).split()[3]
        assert int(nofile) <= len(os.listdir(f"/proc/{pid}/fd")) + 1
        fsize = next(line for line in limits.splitlines() if line.startswith("Max file size")).split()[3]
        assert fsize == "0"


def test_pdf_pointing_outside_makes_no_connection(pool, tmp_path):
    """A PDF with URI, Launch, GoToR, JavaScript actions and an external stream to a local listener and a
    local file is checked without any connection reaching the listener."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    canary = tmp_path / "canary.txt"
    canary.write_text("secret")
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    verdict = pool.check([Task("home", lambda: hostile.calls_home(url, str(canary)))])["home"]
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()
    assert verdict.ok or verdict.reason
