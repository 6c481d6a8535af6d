"""Fixtures of the web tests: one filled ledger for the session, a client on it, and (for the browser tests)
`plant serve` on it and a headless Chromium."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from plant.web import create_app
from tests.web.webplant import Server, fill


@pytest.fixture(scope="session")
def filled(tmp_path_factory):
    """A ledger with a finished demo batch and a batch staged mid-production (see :func:`webplant.fill`)."""
    root = tmp_path_factory.mktemp("web")
    return fill(root / "state", root)


@pytest.fixture(scope="session")
def client(filled):
    """An HTTP client on the web application over the filled ledger."""
    with TestClient(create_app(filled.settings)) as http:
        yield http


@pytest.fixture(scope="session")
def served(filled):
    """`plant serve` on the filled ledger, on a free loopback port; its base URL."""
    server = Server(filled.state)
    url = server.start()
    yield url
    server.stop()
