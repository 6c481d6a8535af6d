"""An operator's action in a real headless Chromium on `plant serve`: sign in, hold a letter from its page,
see it in the queue's "needs attention" held by your name; and a reason being typed survives the page's
refreshes."""

from __future__ import annotations

import pytest

from tests.web.actionplant import OPERATOR, PASSWORD, letter_state, make_action_plant
from tests.web.conftest import PAGE_LOAD_S
from tests.web.webplant import Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served_actions(tmp_path_factory):
    """`plant serve` with operators configured, on a fresh plant; (plant, base URL)."""
    plant = make_action_plant(tmp_path_factory.mktemp("actions-browser"), letters=3)
    with Server(plant.settings.state_dir, config=plant.config) as url:
        yield plant, url


def wait_for(browser, condition, message):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, PAGE_LOAD_S).until(condition, message)


def sign_in(browser, url):
    from selenium.webdriver.common.by import By

    browser.get(url + "login")
    browser.find_element(By.NAME, "name").send_keys(OPERATOR)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    from selenium.webdriver.support import expected_conditions

    button = browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]")
    button.click()
    # the login page itself may already say who is signed in: wait for the answer to the POST replacing it
    wait_for(browser, expected_conditions.staleness_of(button), "the sign-in form was never answered")
    wait_for(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#operator .who"), "the sign-in did not take"
    )


def test_operator_holds_a_letter_from_its_page(browser, served_actions):
    """Signed in, alice holds a letter from its page: the page says it is held, and the queue lists it under
    "needs attention" held by alice."""
    from selenium.webdriver.common.by import By

    plant, url = served_actions
    letter = plant.letters[0]
    sign_in(browser, url)
    browser.get(url + f"pieces/{letter}")
    form = browser.find_element(By.CSS_SELECTOR, f'form[data-act="{letter}"]')
    form.find_element(By.NAME, "reason").send_keys("address to check")
    form.find_element(By.CSS_SELECTOR, "button[value=hold]").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "flash"), "no result shown after the hold")
    assert browser.find_element(By.ID, "flash").text.startswith(f"{letter}: held")
    assert letter_state(plant.settings, letter) == "HELD"
    browser.get(url)
    row = browser.find_element(By.CSS_SELECTOR, f'#attention tr[data-letter="{letter}"]')
    assert row.find_element(By.CSS_SELECTOR, ".held").text == f"held by {OPERATOR} from RECEIVED"
    assert row.find_element(By.CSS_SELECTOR, "td.reason").text.startswith("address to check")


def test_a_reason_being_typed_survives_the_refreshes(browser, served_actions):
    """The open page refreshes itself, but not the part holding a form the operator is filling in."""
    from selenium.webdriver.common.by import By

    plant, url = served_actions
    sign_in(browser, url)
    browser.get(url + f"pieces/{plant.letters[1]}")
    selector = f'form[data-act="{plant.letters[1]}"] input[name=reason]'
    wait_for(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, selector),
        f"no action form on the piece page: {browser.page_source[:2000]}",
    )
    field = browser.find_element(By.CSS_SELECTOR, selector)
    field.send_keys("half a reason")
    browser.find_element(By.TAG_NAME, "h1").click()  # the focus leaves the form; the typed text stays
    wait_for(
        browser,
        lambda d: int(d.execute_script("return document.body.dataset.refreshes || 0")) >= 2,
        "the page never refreshed",
    )
    assert field.get_attribute("value") == "half a reason"  # the same element: never swapped out
