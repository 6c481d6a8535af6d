"""A throw-away CUPS for tests: a private D-Bus bus, a real IPP Everywhere printer and an unprivileged cupsd.

:class:`CupsLab` starts, each on a free loopback port and with every file in one temp dir:

* a private ``dbus-daemon`` system bus (``ippeveprinter`` needs one even with DNS-SD off);
* ``ippeveprinter`` (cups-ipp-utils), keeping every document it receives (``-k``) in its spool dir so a test
  can check that the bytes arrived; its print command does nothing and succeeds (without one it sleeps 5-15 s
  a job);
* ``cupsd`` with its own ``cupsd.conf``/``cups-files.conf``, run as ``nobody`` when the tests run as root. Its
  data dir holds only ``mime.types``, so no filter installed on the machine can convert a document: a queue
  takes exactly the formats its PPD lists, on every machine.

Queues are added and changed with the CUPS command-line tools, as an operator would; jobs are looked at
through pycups, independently of the driver under test. Tests that need the lab are skipped only when a binary
is missing; ``scripts/setup.sh`` installs them, so CI always runs them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: Programs the lab runs (the CUPS admin tools live in /usr/sbin, often not on a user's PATH).
BINARIES = ("cupsd", "ippeveprinter", "dbus-daemon", "lpadmin", "cupsdisable", "cupsenable", "cupsreject")
#: Seconds a daemon may take to open its port before the lab gives up.
START_TIMEOUT_S = 20.0
#: Wall seconds a job through the lab may take to end (it takes about one; this only bounds a hang).
JOB_DEADLINE_S = 60.0
#: Where Debian installs the MIME type rules cupsd needs to type documents.
MIME_TYPES = Path("/usr/share/cups/mime/mime.types")

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>
"""

CUPS_FILES_CONF = """ServerRoot {root}/etc
DataDir {root}/share
ServerBin /usr/lib/cups
CacheDir {root}/cache
StateDir {root}/state
RequestRoot {root}/spool
TempDir {root}/tmp
AccessLog {root}/log/access_log
ErrorLog {root}/log/error_log
PageLog {root}/log/page_log
Printcap {root}/printcap
SystemGroup {group}
FileDevice No
"""

#: Everyone on the loopback may do everything. Job names are visible to all, unless the lab hides them the way
#: CUPS does by default (names shown only to a job's authenticated owner, so never over this unauthenticated
#: TCP).
CUPSD_CONF = """Listen 127.0.0.1:{port}
ServerName localhost
LogLevel info
Browsing Off
WebInterface No
DefaultAuthType None
PreserveJobHistory Yes
MaxJobs 0
<Location />
  Order allow,deny
  Allow from 127.0.0.1
</Location>
<Policy default>
{privacy}
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""
#: Policy lines that show job names to every client.
PUBLIC_JOB_NAMES = "  JobPrivateAccess all\n  JobPrivateValues none"

#: A minimal PPD for a printer that takes PWG raster only (no conversion from anything else exists in the
#: lab).
RASTER_ONLY_PPD = """*PPD-Adobe: "4.3"
*FormatVersion: "4.3"
*FileVersion: "1.0"
*LanguageVersion: English
*LanguageEncoding: ISOLatin1
*PCFileName: "RASTER.PPD"
*Manufacturer: "Plant"
*Product: "(Raster Only)"
*ModelName: "Plant Raster Only"
*ShortNickName: "Plant Raster Only"
*NickName: "Plant Raster Only"
*PSVersion: "(3010.000) 0"
*LanguageLevel: "3"
*ColorDevice: False
*DefaultColorSpace: Gray
*FileSystem: False
*Throughput: "1"
*LandscapeOrientation: Plus90
*TTRasterizer: Type42
*cupsVersion: 2.4
*cupsFilter2: "image/pwg-raster image/pwg-raster 0 -"
*OpenUI *PageSize/Media Size: PickOne
*OrderDependency: 10 AnySetup *PageSize
*DefaultPageSize: A4
*PageSize A4/A4: "<</PageSize[595 842]/ImagingBBox null>>setpagedevice"
*CloseUI: *PageSize
*OpenUI *PageRegion/Media Size: PickOne
*OrderDependency: 10 AnySetup *PageRegion
*DefaultPageRegion: A4
*PageRegion A4/A4: "<</PageSize[595 842]/ImagingBBox null>>setpagedevice"
*CloseUI: *PageRegion
*DefaultImageableArea: A4
*ImageableArea A4/A4: "0 0 595.28 841.89"
*DefaultPaperDimension: A4
*PaperDimension A4/A4: "595.28 841.89"
"""


def missing_binaries() -> list[str]:
    """The lab's programs (and cupsd's MIME types) that are not installed; programs are looked up on PATH and
    in /usr/sbin."""
    missing = [name for name in BINARIES if not _which(name)]
    return missing + ([str(MIME_TYPES)] if not MIME_TYPES.exists() else [])


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def free_port() -> int:
    """A TCP port free on the loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, log: Path | None = None) -> None:
    """Return once ``process`` accepts connections on ``port``; raise with its log if it dies or never
    does."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                detail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
                raise RuntimeError(f"{what} did not start listening on port {port}:\n{detail}") from None
            time.sleep(0.05)


def stop(process: subprocess.Popen | None) -> None:
    """Terminate a process we started, and kill it if it does not go."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class CupsLab:
    """dbus-daemon + ippeveprinter + cupsd in one temp dir (see the module docstring); :meth:`stop` removes
    it."""

    def __init__(self, *, hide_job_names: bool = False) -> None:
        """Prepare a lab (nothing runs before :meth:`start`); ``hide_job_names`` keeps CUPS's default
        privacy."""
        self.hide_job_names = hide_job_names
        self.root = Path(tempfile.mkdtemp(prefix="plant-cups-"))
        self.cups_root = self.root / "cups"
        self.eve_spool = self.root / "eve-spool"
        self.eve_port = free_port()
        self.port = free_port()
        self.processes: list[subprocess.Popen] = []
        #: cupsd as root would run its backends as 'lp' and chown its files; under root it runs as nobody
        #: instead.
        self.as_nobody = os.geteuid() == 0
        self.group = _group_name(_nobody_gid() if self.as_nobody else os.getgid())

    @property
    def server(self) -> str:
        """The cupsd as ``host:port``, the way the plant's configuration names it."""
        return f"127.0.0.1:{self.port}"

    @property
    def device_uri(self) -> str:
        """The IPP URI of the ippeveprinter, for a queue's device (without SNMP: the backend would spend 4 s
        on it for every job of a queue with a PPD)."""
        return f"ipp://localhost:{self.eve_port}/ipp/print?snmp=false"

    def start(self) -> CupsLab:
        """Start the bus, the printer and cupsd; on any failure stop what started and re-raise."""
        try:
            address = self._start_bus()
            self._start_printer(address)
            self._start_cupsd()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process the lab started (last first) and remove its temp dir."""
        for process in reversed(self.processes):
            stop(process)
        self.processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def _start_bus(self) -> str:
        config = self.root / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.root / "bus.sock"))
        bus = subprocess.Popen(
            [_which("dbus-daemon"), f"--config-file={config}", "--print-address", "--nofork"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.processes.append(bus)
        address = bus.stdout.readline().strip()
        if not address:
            raise RuntimeError("dbus-daemon did not start (no bus address printed)")
        return address

    def _start_printer(self, bus_address: str) -> None:
        self.eve_spool.mkdir()
        log = self.root / "ippeveprinter.log"
        with open(log, "wb") as out:
            eve = subprocess.Popen(
                [
                    _which("ippeveprinter"),
                    "-r",
                    "off",
                    "-n",
                    "localhost",
                    "-p",
                    str(self.eve_port),
                    "-d",
                    str(self.eve_spool),
                    "-k",
                    "-2",
                    "-c",
                    _which("true"),
                    "-f",
                    "application/pdf,image/pwg-raster",
                    "PlantLab",
                ],
                env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus_address},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(eve)
        wait_for_port(self.eve_port, eve, "ippeveprinter", log)

    def _start_cupsd(self) -> None:
        root = self.cups_root
        for sub in ("etc", "etc/ppd", "share/mime", "cache", "state", "spool", "tmp", "log"):
            (root / sub).mkdir(parents=True)
        shutil.copy(MIME_TYPES, root / "share" / "mime" / "mime.types")
        (root / "etc" / "cups-files.conf").write_text(CUPS_FILES_CONF.format(root=root, group=self.group))
        (root / "etc" / "cupsd.conf").write_text(
            CUPSD_CONF.format(port=self.port, privacy="" if self.hide_job_names else PUBLIC_JOB_NAMES)
        )
        drop: dict = {}
        if self.as_nobody:
            drop = {"user": _nobody_uid(), "group": _nobody_gid(), "extra_groups": []}
            self.root.chmod(0o755)
            for path in [root, *root.rglob("*")]:
                os.chown(path, _nobody_uid(), _nobody_gid())
        log = root / "log" / "error_log"
        cupsd = subprocess.Popen(
            [
                _which("cupsd"),
                "-f",
                "-c",
                str(root / "etc" / "cupsd.conf"),
                "-s",
                str(root / "etc" / "cups-files.conf"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **drop,
        )
        self.processes.append(cupsd)
        wait_for_port(self.port, cupsd, "cupsd", log)

    def admin(self, tool: str, *args: str) -> None:
        """Run a CUPS admin tool (lpadmin, cupsdisable, …) against the lab's cupsd, as an operator would."""
        done = subprocess.run(
            [_which(tool), "-h", self.server, *args], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr.strip()}")

    def add_queue(self, name: str, *, raster_only: bool = False) -> str:
        """Add an enabled, accepting queue ``name`` printing to the ippeveprinter; return its name.

        A plain queue passes documents through unchanged; ``raster_only`` gives it a PPD that takes PWG raster
        and nothing else.
        """
        args = ["-p", name, "-v", self.device_uri, "-E"]
        if raster_only:
            ppd = self.root / f"{name}.ppd"
            ppd.write_text(RASTER_ONLY_PPD)
            args += ["-P", str(ppd)]
        self.admin("lpadmin", *args)
        return name

    def remove_queue(self, name: str) -> None:
        """Delete a queue and its jobs."""
        self.admin("lpadmin", "-x", name)

    def received(self, job_name: str) -> list[Path]:
        """Documents ippeveprinter kept for jobs named ``job_name`` (it lower-cases names in file names)."""
        return sorted(
            path for path in self.eve_spool.glob(f"*-{job_name.lower()}.*") if path.suffix != ".prn"
        )

    def _connect(self):
        """A pycups connection to the lab's cupsd (libcups's process-wide server pointed at it, as pycups
        needs)."""
        import cups

        cups.setServer("127.0.0.1")
        cups.setPort(self.port)
        return cups.Connection(host="127.0.0.1", port=self.port)

    def purge_job(self, cups_id: int) -> None:
        """Cancel a job and remove it from cupsd's history, as an operator's ``cancel -x`` does."""
        self._connect().cancelJob(cups_id, purge_job=True)

    def jobs_named(self, job_name: str) -> dict[int, dict]:
        """Every job cupsd has (finished ones too) named ``job_name``, by CUPS job id, with its attributes."""
        jobs = self._connect().getJobs(
            which_jobs="all",
            requested_attributes=[
                "job-id",
                "job-name",
                "job-state",
                "copies",
                "sides",
                "media",
                "job-printer-uri",
                "document-format",
            ],
        )
        return {cups_id: attrs for cups_id, attrs in jobs.items() if attrs.get("job-name") == job_name}


def write_pdf(path: Path, pages: int = 1, label: str = "lab") -> Path:
    """A small PDF whose page i reads '<label> page <i>', as a job's document."""
    from reportlab.pdfgen import canvas

    sheet = canvas.Canvas(str(path))
    for page in range(1, pages + 1):
        sheet.drawString(72, 720, f"{label} page {page}")
        sheet.showPage()
    sheet.save()
    return path


def wait_until_final(printer, job_id: str):
    """Poll a printer until the job ends and return its final status; fail (rather than hang) if it never
    does."""
    deadline = time.monotonic() + JOB_DEADLINE_S
    while not (status := printer.status(job_id)).is_final:
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not end within {JOB_DEADLINE_S} s: {status}")
        time.sleep(0.05)
    return status


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def _nobody_uid() -> int:
    import pwd

    return pwd.getpwnam("nobody").pw_uid


def _nobody_gid() -> int:
    import pwd

    return pwd.getpwnam("nobody").pw_gid
