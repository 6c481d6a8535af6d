"""The pages in a real headless Chromium (Selenium, the Debian chromium and chromium-driver): the queue shows
its counts, a piece page its history, an open page follows the ledger, and a sender's markup is shown as text
and never run. `plant serve` runs on a free loopback port started and stopped by the tests."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from plant.ledger import Ledger, move_letters
from plant.ledger import schema as t
from plant.model import Event, State
from plant.testing import configure
from tests.web.webplant import HOSTILE_NAME, Server, accept_batch

pytestmark = pytest.mark.slow

#: Seconds the browser may take to show what the test waits for (a condition, polled; never a timing claim).
WAIT_S = 30
#: Seconds between two refreshes of an open page in the refresh tests.
REFRESH_S = 0.3


def wait_for(driver, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(condition, message)


def cell(driver, submission_id: str, state: str) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(
        By.CSS_SELECTOR, f'tr[data-submission="{submission_id}"] td[data-state="{state}"]'
    )
    return found[0].text if found else ""


def test_queue_shows_each_submissions_counts(browser, served, client, filled):
    """The rendered queue shows, in each submission's row, its count of letters in each state."""
    browser.get(served)
    for submission in client.get("/api/overview").json()["submissions"]:
        for state, count in submission["states"].items():
            assert cell(browser, submission["submission_id"], state) == str(count)
    assert cell(browser, filled.queue_submission, "SPOOLED") == "4"


def test_piece_page_shows_its_history(browser, served, client, filled):
    """A piece's page lists its events in order, from receipt to the spoil and reprint."""
    from selenium.webdriver.common.by import By

    rows = client.get(f"/api/submissions/{filled.queue_submission}").json()["rows"]
    tracking_id = next(r["tracking_id"] for r in rows if r["letter_id"] == filled.reprint_letter)
    browser.get(f"{served}pieces/{tracking_id}")
    shown = [
        row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "table.history tbody tr")
    ]
    assert shown == [
        e["event"] for e in client.get(f"/api/pieces/{tracking_id}").json()["letters"][0]["events"]
    ]
    assert shown[0] == "receive" and shown[-2:] == ["spoil", "reprint"]
    assert browser.find_element(By.CSS_SELECTOR, "dd.tracking").text == tracking_id


@pytest.mark.parametrize("where", ["queue", "submission", "piece"])
def test_sender_markup_is_shown_as_text_and_never_runs(browser, served, filled, where):
    """The name `<script>…</script>Eve & "Co"` reads literally on the page; its script never ran."""
    from selenium.webdriver.common.by import By

    path = {
        "queue": "",
        "submission": f"submissions/{filled.queue_submission}",
        "piece": f"pieces/{filled.hostile_letter}",
    }[where]
    browser.get(served + path)
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".name")]
    assert HOSTILE_NAME in names
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    scripts = browser.execute_script("return Array.from(document.scripts).map(s => s.src || s.textContent)")
    assert scripts == [served + "static/live.js"]


@pytest.fixture
def live_plant(tmp_path):
    """A fresh ledger with three received letters, served with a short refresh interval."""
    config, settings = configure(tmp_path, f"[web]\nrefresh_s = {REFRESH_S}\n")
    submission_id = accept_batch(settings, tmp_path / "in")
    server = Server(settings.state_dir, config=config)
    with server as url:
        yield settings, submission_id, server, url


def test_open_queue_picks_up_a_change_in_the_ledger(browser, live_plant):
    """A letter rejected after the queue was loaded shows in the open page without a reload."""
    settings, submission_id, _, url = live_plant
    browser.get(url)
    assert cell(browser, submission_id, "RECEIVED") == "3" and cell(browser, submission_id, "REJECTED") == ""
    browser.execute_script("window.loadedOnce = true")
    ledger = Ledger(settings.ledger_url)
    with ledger.tx() as conn:
        first = conn.execute(select(t.letters.c.pk).order_by(t.letters.c.pk)).scalars().first()
        move_letters(
            conn, [first], Event.REJECT, State.RECEIVED, extra={"reason_code": "NOT_PDF", "reason": "x"}
        )
    ledger.dispose()
    wait_for(
        browser,
        lambda d: cell(d, submission_id, "REJECTED") == "1",
        "the open queue never showed the rejection",
    )
    assert cell(browser, submission_id, "RECEIVED") == "2"
    assert browser.execute_script("return window.loadedOnce") is True, (
        "the page reloaded instead of refreshing"
    )


def test_open_page_says_when_the_plant_stops_answering(browser, live_plant):
    """When the server is gone, the open page keeps its data and shows that it is stale."""
    from selenium.webdriver.common.by import By

    _, submission_id, server, url = live_plant
    browser.get(url)
    wait_for(
        browser,
        lambda d: d.execute_script("return document.body.dataset.refreshes") is not None,
        "the page never refreshed",
    )
    assert not browser.find_element(By.ID, "stale").is_displayed()
    server.stop()
    wait_for(
        browser, lambda d: d.find_element(By.ID, "stale").is_displayed(), "the page never said it was stale"
    )
    assert cell(browser, submission_id, "RECEIVED") == "3"
