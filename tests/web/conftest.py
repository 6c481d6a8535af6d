"""Fixtures of the web tests: one filled ledger for the session, a client on it, and (for the browser tests)
`plant serve` on it and a headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from plant.web import create_app
from tests.web.webplant import Server, fill, fill_devices

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Seconds a page may take to load in the browser (an upper bound on waiting, never a timing claim).
PAGE_LOAD_S = 30


@pytest.fixture(scope="session")
def filled(tmp_path_factory):
    """A ledger with a finished demo batch and a batch staged mid-production (see :func:`webplant.fill`)."""
    root = tmp_path_factory.mktemp("web")
    return fill(root / "state", root)


@pytest.fixture(scope="session")
def devices_plant(tmp_path_factory):
    """A ledger with presses and an inserter out of the plan, re-planned jobs and a held letter
    (see :func:`webplant.fill_devices`)."""
    root = tmp_path_factory.mktemp("devices")
    return fill_devices(root / "state", root)


@pytest.fixture(scope="session")
def devices_client(devices_plant):
    """An HTTP client on the web application over the devices ledger."""
    with TestClient(create_app(devices_plant.settings)) as http:
        yield http


@pytest.fixture(scope="session")
def client(filled):
    """An HTTP client on the web application over the filled ledger."""
    with TestClient(create_app(filled.settings)) as http:
        yield http


@pytest.fixture(scope="session")
def served(filled):
    """`plant serve` on the filled ledger, on a free loopback port; its base URL."""
    with Server(filled.state) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven through chromedriver; no network beyond loopback."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing; scripts/setup.sh installs them")
        pytest.skip("chromium and chromium-driver are not installed; scripts/setup.sh installs them")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-proxy-server",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_S)
    yield driver
    driver.quit()
