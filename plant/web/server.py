"""``plant serve``: listen on a socket (loopback by default) and run the web application with uvicorn.

The socket is bound here, before uvicorn starts, so a port already taken is a clear :class:`ServiceError`
with the fix in its message instead of a traceback from inside the server, and ``--port 0`` can print the
port it got.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable

import structlog
from sqlalchemy.engine import make_url

from plant.config import Settings
from plant.errors import ServiceError

log = structlog.get_logger(__name__)

#: Connections the kernel queues while the server is busy.
BACKLOG = 128


def serve(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    announce: Callable[[str], None] = log.info,
) -> None:
    """Serve the pages and API on ``host``:``port`` (defaults: ``[web]`` of plant.toml) until interrupted;
    ``announce`` gets the address served, and a warning when it is reachable from other machines."""
    import uvicorn

    from plant.web.app import create_app

    host = host or settings.web.host
    port = settings.web.port if port is None else port
    # like every command: an empty plant shows empty pages
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    sock = bind(host, port)
    bound = sock.getsockname()
    url = f"http://{'[' + bound[0] + ']' if sock.family == socket.AF_INET6 else bound[0]}:{bound[1]}/"
    ledger = make_url(settings.ledger_url).render_as_string(hide_password=True)
    announce(f"plant: serving {url} (pages and /api/ of {ledger}; Ctrl-C stops)")
    warning = exposure_warning(host, bound[0])
    if warning:
        announce(f"plant: {warning}")
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", server_header=False)
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised the signal
        pass
    finally:
        sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``; else a :class:`ServiceError` saying what to do."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServiceError(
            f"Cannot listen on {host!r} ({exc.strerror}); give an IP address such as 127.0.0.1 "
            "or a host name this machine resolves to --host.",
            host=host,
            port=port,
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not another listener's port: only TIME_WAIT
    try:
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServiceError(
                f"Port {port} on {host} is taken by another program (another `plant serve`?); "
                "stop it, or pick a free port with --port N (or [web] port in plant.toml).",
                host=host,
                port=port,
            ) from None
        raise ServiceError(
            f"Cannot listen on {host}:{port} ({exc.strerror}); ports below 1024 need root, and "
            "--host must be an address of this machine. Pick another with --host/--port.",
            host=host,
            port=port,
        ) from None
    return sock


def exposure_warning(host: str, address: str) -> str | None:
    """What to tell the operator when ``address`` (``host``, resolved) is reachable from other machines."""
    try:
        if ipaddress.ip_address(address).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"{host} is reachable from other machines and reading the pages needs no login: anyone who can reach "
        "it reads the queue. Serve on 127.0.0.1 behind a proxy that authenticates."
    )
