"""`plant serve`: loopback by default, a clear error when the port is taken, and the [web] settings
checked."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request

import pytest

from plant.config import load_settings
from plant.errors import ConfigError
from plant.web.server import exposure_warning
from tests.plant.helpers import plant_env
from tests.web.webplant import Server

#: Seconds `plant serve` may take to give up on a taken port (it should exit at once; a hang fails the test).
SERVE_EXIT_S = 60


def _get_json(url: str) -> dict:
    """GET ``url`` from the running server with the standard library (the suite's HTTP client for real
    sockets)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_serve_listens_on_loopback_by_default(tmp_path):
    """Without --host, `plant serve` listens on 127.0.0.1 and answers there."""
    server = Server(tmp_path / "state")
    url = server.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        assert _get_json(url + "api/health")["status"] == "ok"
    finally:
        server.stop()


def test_serve_reads_postgresql_and_hides_the_password(tmp_path, postgres):
    """With PLANT_DATABASE_URL on PostgreSQL, `plant serve` answers from it and never prints the password."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"w{uuid.uuid4().hex[:12]}"
    engine = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    url = postgres.replace("plant@", "plant:hunter2@").rsplit("/", 1)[0] + f"/{name}"  # trust auth ignores it
    server = Server(tmp_path / "state", env={"PLANT_DATABASE_URL": url})
    base = server.start()
    try:
        health = _get_json(base + "api/health")
    finally:
        server.stop()
    assert health["status"] == "ok"
    started = "".join(server.lines)
    assert "plant:***@" in started and "hunter2" not in started


def test_serve_refuses_a_taken_port(tmp_path):
    """A port another program listens on is refused with exit code 69 and a message naming the port and the
    fix."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "plant", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=plant_env(tmp_path / "state"),
            timeout=SERVE_EXIT_S,
        )
    assert result.returncode == 69
    assert f"Port {port} on 127.0.0.1 is taken" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "address, warned",
    [("127.0.0.1", False), ("::1", False), ("0.0.0.0", True), ("192.0.2.7", True), ("::", True)],
)
def test_serving_beyond_loopback_warns(address, warned):
    """Listening on an address other machines reach prints a warning that the pages have no login."""
    warning = exposure_warning(address, address)
    assert (warning is not None) == warned
    assert warning is None or "no login" in warning


@pytest.mark.parametrize(
    "table, key",
    [
        ("port = 70000", "web.port"),
        ("port = -1", "web.port"),
        ("refresh_s = 0", "web.refresh_s"),
        ("refresh_s = 9999", "web.refresh_s"),
        ("colour = 'blue'", "web.colour"),
    ],
)
def test_web_settings_are_checked(tmp_path, table, key):
    """Bad [web] values are refused naming the key."""
    config = tmp_path / "plant.toml"
    config.write_text(f"[web]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert caught.value.key == key


def test_web_settings_are_read(tmp_path):
    """[web] host, port and refresh_s come from plant.toml."""
    config = tmp_path / "plant.toml"
    config.write_text("[web]\nhost = '::1'\nport = 9000\nrefresh_s = 1.5\n")
    web = load_settings(config, environ={}).web
    assert (web.host, web.port, web.refresh_s) == ("::1", 9000, 1.5)
