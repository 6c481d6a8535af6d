"""Operators' actions over HTTP: sign-in, the 401/403 gates (no operators, no sign-in, wrong CSRF token), each
action's effect in the ledger with the operator's name in its event, a refusal's reason shown, and the
operators file (scrypt hashes, `plant web add-operator`)."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.web import create_app
from plant.web.auth import SESSION_KEY_FILE, check_login, hash_password, read_operators, verify_password
from tests.plant.helpers import run_plant
from tests.web.actionplant import OPERATOR, PASSWORD, csrf_of, last_event, letter_state, make_action_plant


@pytest.fixture(scope="module")
def acting(tmp_path_factory):
    """A fresh plant with six RECEIVED letters and operator alice."""
    return make_action_plant(tmp_path_factory.mktemp("actions"))


@pytest.fixture
def http(acting):
    """A client with no session yet (a new one each test)."""
    with TestClient(create_app(acting.settings), follow_redirects=False) as client:
        yield client


def sign_in(http, name=OPERATOR, password=PASSWORD, next_="/"):
    token = csrf_of(http.get("/login").text)
    return http.post("/login", data={"csrf": token, "name": name, "password": password, "next": next_})


def signed_in(http) -> str:
    """Sign in as alice; the CSRF token of the session."""
    assert sign_in(http).status_code == 303
    return csrf_of(http.get("/").text)


def letter_action(http, token, letter, action, reason="checking"):
    return http.post(
        "/actions/letter", data={"csrf": token, "id": letter, "action": action, "reason": reason}
    )


# -- signing in ----------------------------------------------------------------------------------------------
def test_good_login_signs_in_with_a_strict_httponly_cookie(http):
    """The right password redirects and the pages then name the operator; the cookie is HttpOnly,
    SameSite=Strict."""
    answer = sign_in(http, next_="/qa")
    assert answer.status_code == 303 and answer.headers["location"] == "/qa"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = http.get("/").text
    assert f'signed in as <b class="who">{OPERATOR}</b>' in page and f"Signed in as {OPERATOR}." in page


def test_bad_login_is_refused(http):
    """A wrong password answers 401 with a message and signs nobody in."""
    answer = sign_in(http, password="wrong password")
    assert answer.status_code == 401 and "Wrong name or password." in answer.text
    assert "signed in as" not in http.get("/").text


def test_login_needs_the_forms_token(http):
    """A login form posted without the session's token (from another site) is refused."""
    http.get("/login")
    answer = http.post("/login", data={"csrf": "forged", "name": OPERATOR, "password": PASSWORD})
    assert answer.status_code == 403


def test_login_never_redirects_off_site(http):
    """`next` naming another host is replaced by the queue."""
    assert sign_in(http, next_="//evil.example/").headers["location"] == "/"


def test_reading_needs_no_sign_in_and_shows_no_forms(http, acting):
    """Pages stay open; without a sign-in they show a sign-in link and no action forms (and set no cookie)."""
    answer = http.get(f"/pieces/{acting.letters[0]}")
    assert answer.status_code == 200 and "set-cookie" not in answer.headers
    assert "Sign in to act" in answer.text and "/actions/letter" not in answer.text


def test_forms_are_allowed_by_the_csp_only_to_this_site(http):
    """The Content-Security-Policy lets forms post to the plant itself and nowhere else."""
    assert "form-action 'self'" in http.get("/").headers["content-security-policy"]


# -- the gates -----------------------------------------------------------------------------------------------
def test_action_without_sign_in_is_401(http, acting):
    """Posting an action with no session is refused and the letter does not move."""
    http.get("/login")  # a session with a token, but nobody signed in
    answer = letter_action(http, csrf_of(http.get("/login").text), acting.letters[5], "hold")
    assert answer.status_code == 401 and "Sign in first" in answer.text
    assert letter_state(acting.settings, acting.letters[5]) == "RECEIVED"


def test_action_with_a_wrong_csrf_token_is_403(http, acting):
    """A signed-in operator's action posted without the session's token (a forged form) does nothing."""
    signed_in(http)
    answer = letter_action(http, "forged", acting.letters[5], "hold")
    assert answer.status_code == 403 and "security token" in answer.text
    assert letter_state(acting.settings, acting.letters[5]) == "RECEIVED"


def test_without_an_operators_file_there_are_no_actions(tmp_path):
    """No `[web] operators_file`: no sign-in link, no forms, no session key; every POST 403 saying how to
    set it."""
    plant = make_action_plant(tmp_path, letters=1, operators=False)
    with TestClient(create_app(plant.settings), follow_redirects=False) as client:
        page = client.get(f"/pieces/{plant.letters[0]}").text
        answer = client.post("/actions/letter", data={"id": plant.letters[0], "action": "hold"})
        login = client.get("/login")
    assert "Sign in" not in page and "/actions/" not in page
    assert answer.status_code == 403 and "operators_file" in answer.text and "add-operator" in answer.text
    assert login.status_code == 403
    assert not (plant.settings.state_dir / SESSION_KEY_FILE).exists()
    assert letter_state(plant.settings, plant.letters[0]) == "RECEIVED"


# -- the actions ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "action, index, state", [("hold", 0, "HELD"), ("cancel", 1, "CANCELLED"), ("pull", 2, "PULLED")]
)
def test_letter_action_moves_the_letter_and_names_the_operator(http, acting, action, index, state):
    """Hold, cancel and pull from the piece page move the letter and record alice in the event; the page
    says so."""
    token = signed_in(http)
    letter = acting.letters[index]
    answer = letter_action(http, token, letter, action, reason=f"{action} from the web")
    assert answer.status_code == 303 and answer.headers["location"] == f"/pieces/{letter}"
    assert letter_state(acting.settings, letter) == state
    event = last_event(acting.settings, "letter", letter, action)
    assert event.data == {"by": OPERATOR, "reason": f"{action} from the web"}
    flash = http.get(answer.headers["location"]).text
    assert 'class="flash done"' in flash and f"{letter}: {state.lower()}" in flash


def test_release_puts_a_held_letter_back_and_names_the_operator(http, acting):
    """A letter held and then released from the page is back where it was, the release event naming alice."""
    token = signed_in(http)
    letter = acting.letters[3]
    letter_action(http, token, letter, "hold")
    letter_action(http, token, letter, "release", reason="address confirmed")
    assert letter_state(acting.settings, letter) == "RECEIVED"
    assert last_event(acting.settings, "letter", letter, "release").data == {
        "by": OPERATOR,
        "reason": "address confirmed",
    }


def test_held_letter_shows_the_operators_name(http, acting):
    """The queue's attention list says who held the letter: the signed-in operator, not a generic word."""
    token = signed_in(http)
    letter_action(http, token, acting.letters[0], "hold")  # held already by the parametrised test, or now
    page = http.get("/").text
    assert f"held by {OPERATOR} from RECEIVED" in page


def test_refused_action_shows_plant_operators_reason(http, acting):
    """Cancelling a spooled letter is refused with plant.operator's way out (pull); the letter does not
    move."""
    letter = acting.letters[4]
    ledger = Ledger(acting.settings.ledger_url)
    with ledger.tx() as conn:  # as if the spool stage had handed it to a press
        conn.execute(update(t.letters).where(t.letters.c.letter_id == letter).values(state="SPOOLED"))
    ledger.dispose()
    token = signed_in(http)
    answer = letter_action(http, token, letter, "cancel")
    page = http.get(answer.headers["location"]).text
    assert 'class="flash refused"' in page and f"{letter}: refused" in page and "pull it instead" in page
    assert letter_state(acting.settings, letter) == "SPOOLED"
    assert last_event(acting.settings, "letter", letter, "cancel") is None


def test_device_down_and_up_name_the_operator(http, acting):
    """Taking press-2 out of service from the queue records alice in its `down` event and shows her name in
    the Devices section; putting it back records her in the `up` event."""
    token = signed_in(http)
    answer = http.post(
        "/actions/device", data={"csrf": token, "name": "press-2", "action": "down", "reason": "fuser fault"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/#devices"
    assert last_event(acting.settings, "device", "press-2", "down").data == {
        "cause": "operator",
        "reason": "fuser fault",
        "by": OPERATOR,
    }
    (press,) = [d for d in http.get("/api/overview").json()["devices"] if d["name"] == "press-2"]
    assert (press["in_service"], press["down_by"], press["down_operator"]) == (False, "operator", OPERATOR)
    page = http.get("/").text
    assert f'<span class="who">{OPERATOR}</span>' in page and "press-2: down" in page
    http.post("/actions/device", data={"csrf": token, "name": "press-2", "action": "up"})
    assert last_event(acting.settings, "device", "press-2", "up").data["by"] == OPERATOR
    (press,) = [d for d in http.get("/api/overview").json()["devices"] if d["name"] == "press-2"]
    assert press["in_service"] is True


def test_unknown_device_is_refused_with_the_device_list(http):
    """A device name not in plant.toml is refused with the configured names."""
    token = signed_in(http)
    http.post("/actions/device", data={"csrf": token, "name": "press-9", "action": "down"})
    page = http.get("/").text
    assert "press-9: refused" in page and "press-1, press-2" in page


def test_sign_out_ends_the_session(http, acting):
    """After signing out, the same session's actions are 401."""
    token = signed_in(http)
    assert http.post("/logout", data={"csrf": token}).status_code == 303
    assert letter_action(http, token, acting.letters[5], "hold").status_code == 401


# -- the operators file --------------------------------------------------------------------------------------
def test_password_hashes_are_salted_scrypt():
    """Each hash is scrypt with its own salt: the same password hashes differently, and both verify."""
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("scrypt$") and first != second
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password("another password", first)


def test_add_operator_command_reads_the_password_from_stdin(acting, http):
    """`plant web add-operator bob` with the password on stdin adds a hash (never the password) bob can sign
    in with; the file and the session key are readable by the plant's user only."""
    result = run_plant(
        ["web", "add-operator", "bob"],
        acting.settings.state_dir,
        config=acting.config,
        input="bobs password\n",
    )
    assert result.returncode == 0, result.stderr
    path = acting.settings.web.operators_file
    assert "bobs password" not in path.read_text() and set(read_operators(path)) == {OPERATOR, "bob"}
    assert check_login(path, "bob", "bobs password") and not check_login(path, "bob", "wrong")
    for private in (path, acting.settings.state_dir / SESSION_KEY_FILE):
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600


def test_add_operator_without_an_operators_file_says_how(tmp_path):
    """Without `[web] operators_file` the command fails and says what to set."""
    result = run_plant(["web", "add-operator", "bob"], tmp_path / "state", input="bobs password\n")
    assert result.returncode != 0 and "operators_file" in result.stderr
