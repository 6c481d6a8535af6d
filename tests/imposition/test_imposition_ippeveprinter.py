"""A PWG raster job imposed by the plant is accepted and completed by a real IPP Everywhere printer.

The test starts a private D-Bus system bus (ippeveprinter needs one even without DNS-SD), then
``ippeveprinter`` on a free port with its spool in a temporary folder and a print command that decodes the
raster with libcups (so "completed" means the device could read every page), sends the job over IPP with
``ipptool`` and stops everything it started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imposition import Duplex, Layout, PieceInput
from imposition.pwg import impose_raster
from tests.imposition.imposition_helpers import write_labelled

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("ippeveprinter", "dbus-daemon", "ipptool")
pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) or Path(f"/usr/sbin/{t}").exists() for t in TOOLS),
    reason="needs ippeveprinter (cups-ipp-utils), ipptool (cups-client), dbus-daemon",
)

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>
"""
HOOK = """#!{python}
import sys
sys.path.insert(0, {root!r})
from tests.imposition.imposition_helpers import read_pwg_with_libcups
pages = read_pwg_with_libcups(sys.argv[-1])
print(f"ATTR: job-impressions-completed={{len(pages)}}", file=sys.stderr)
open({seen!r}, "w").write(str(len(pages)))
sys.exit(0 if pages else 1)
"""
PRINT_AND_WAIT = """{
  NAME "Print-Job with the PWG raster"
  OPERATION Print-Job
  GROUP operation-attributes-tag
  ATTR charset attributes-charset utf-8
  ATTR naturalLanguage attributes-natural-language en
  ATTR uri printer-uri $uri
  ATTR name requesting-user-name $user
  ATTR name job-name J-PWG-1
  ATTR mimeMediaType document-format image/pwg-raster
  FILE $filename
  STATUS successful-ok
  EXPECT job-id OF-TYPE integer
}
{
  NAME "Job completes"
  OPERATION Get-Job-Attributes
  GROUP operation-attributes-tag
  ATTR charset attributes-charset utf-8
  ATTR naturalLanguage attributes-natural-language en
  ATTR uri printer-uri $uri
  ATTR integer job-id $job-id
  ATTR name requesting-user-name $user
  STATUS successful-ok
  EXPECT job-state WITH-VALUE >6 REPEAT-NO-MATCH REPEAT-LIMIT 200
  EXPECT job-state WITH-VALUE 9
  EXPECT job-impressions-completed WITH-VALUE 2
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def printer(tmp_path):
    """A running ippeveprinter: yields its URI and the file its print command writes the page count to."""
    (tmp_path / "bus.conf").write_text(BUS_CONFIG.format(socket=tmp_path / "bus.sock"))
    bus = subprocess.Popen(
        ["dbus-daemon", f"--config-file={tmp_path / 'bus.conf'}", "--print-address", "--nofork"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        address = bus.stdout.readline().strip()
        seen = tmp_path / "seen"
        hook = tmp_path / "hook.py"
        hook.write_text(HOOK.format(python=sys.executable, root=str(ROOT), seen=str(seen)))
        hook.chmod(0o755)
        (tmp_path / "spool").mkdir()
        port = free_port()
        eve = subprocess.Popen(
            [
                "ippeveprinter",
                "-r",
                "off",
                "-n",
                "localhost",
                "-p",
                str(port),
                "-d",
                str(tmp_path / "spool"),
                "-k",
                "-2",
                "-c",
                str(hook),
                "-f",
                "application/pdf,image/pwg-raster",
                "PlantTest",
            ],
            env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    socket.create_connection(("localhost", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or eve.poll() is not None:
                        raise RuntimeError("ippeveprinter did not start listening") from None
                    time.sleep(0.05)
            yield f"ipp://localhost:{port}/ipp/print", seen
        finally:
            stop(eve)
    finally:
        stop(bus)


def test_ippeveprinter_completes_the_plants_pwg_raster_job(printer, tmp_path):
    """A duplex 1-up A4 raster job of one 2-page letter: accepted, both sides decoded, job completed (state
    9)."""
    uri, seen = printer
    out = tmp_path / "job.pwg"
    impose_raster(
        [PieceInput("P1", write_labelled(tmp_path / "a.pdf", "p1", 2), "RR100000015ZZ")],
        out,
        "J1",
        Layout(duplex=Duplex.TURN),
        dpi=150,
    )
    (tmp_path / "job.test").write_text(PRINT_AND_WAIT)
    done = subprocess.run(
        ["ipptool", "-t", "-f", str(out), uri, str(tmp_path / "job.test")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr
    assert seen.read_text() == "2"
