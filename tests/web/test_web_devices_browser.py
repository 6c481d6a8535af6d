"""The Devices section and a held letter in a real headless Chromium, on `plant serve` over the devices ledger
(:func:`webplant.fill_devices`): a device the operator took down reads as such, with who and why; a press out
because it stopped shows its reason and what to do; a hold's reason full of markup is text."""

from __future__ import annotations

import pytest

from printers.errors import remedy_for
from tests.web.webplant import HOLD_REASON, PRESS_DOWN_REASON, STOP_REASON, Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served_devices(devices_plant):
    """`plant serve` on the devices ledger, on a free loopback port; its base URL."""
    with Server(devices_plant.state) as url:
        yield url


def service_row(browser, name: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'#devices tr[data-service="{name}"]')


def test_devices_section_shows_a_device_taken_down(browser, served_devices):
    """press-2's row in the Devices section reads out of service, taken down by the operator, with the reason
    and the time; inserter-1's reads in service."""
    from selenium.webdriver.common.by import By

    browser.get(served_devices)
    row = service_row(browser, "press-2")
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert row.get_attribute("data-in-service") == "0"
    assert cells[:6] == ["press-2", "printer", "out of service", "operator", cells[4], PRESS_DOWN_REASON]
    assert cells[4].endswith("Z")
    assert service_row(browser, "inserter-1").find_elements(By.TAG_NAME, "td")[2].text == "in service"
    header = browser.find_element(By.CSS_SELECTOR, '#work article[data-device="press-2"] h3').text
    assert "out of service" in header


def test_devices_section_shows_why_a_press_is_stopped(browser, served_devices, devices_plant):
    """press-1's row says the plant took it out, that it is stopped, the jam reason, the job waiting and the
    fix."""
    from selenium.webdriver.common.by import By

    browser.get(served_devices)
    row = service_row(browser, "press-1")
    by = row.find_element(By.CSS_SELECTOR, "td.by").text
    stop = row.find_element(By.CSS_SELECTOR, "td.stopped").text
    assert by == "plant"
    for part in ("stopped since", STOP_REASON, devices_plant.stopped_job, remedy_for([STOP_REASON])):
        assert part in stop


def test_held_letter_shows_who_held_it_and_the_reason_as_text(browser, served_devices, devices_plant):
    """The attention row of the held letter says held by the operator, and its markup reason reads literally
    without making an element."""
    from selenium.webdriver.common.by import By

    browser.get(served_devices)
    row = browser.find_element(By.CSS_SELECTOR, f'#attention tr[data-letter="{devices_plant.held_letter}"]')
    reason = row.find_element(By.CSS_SELECTOR, "td.reason")
    assert reason.text.startswith(HOLD_REASON)
    assert reason.find_element(By.CSS_SELECTOR, ".held").text == "held by operator from PRINT_READY"
    assert browser.execute_script("return document.getElementById('held-markup')") is None
