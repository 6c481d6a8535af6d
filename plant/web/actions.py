"""Operators' actions from the pages: sign in and out, hold / release / cancel / pull a letter, take a device
out of service or back — each a POST calling :mod:`plant.operator`, as ``plant hold`` and
``plant device down`` do.

Every POST is checked in this order: actions configured at all (``[web] operators_file``; 403 saying how,
otherwise), an operator signed in (401), the form's CSRF token equal to the session's (403). The action's
event names the operator (``data.by``). The result — done, or refused with :mod:`plant.operator`'s reason —
is kept in the session and shown once on the page the operator is sent back to (303, so a reload does not
post again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypedDict
from urllib.parse import parse_qs, quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from plant.config import Settings
from plant.errors import NotFound
from plant.ledger import Ledger
from plant.operator import Action, Outcome, act, device_down, device_up
from plant.web.auth import NO_OPERATORS, check_login, csrf_ok, new_csrf_token

#: Longest form body read (a reason is a line of text).
MAX_FORM_BYTES = 16 * 1024
#: Device actions and what they call.
DEVICE_ACTIONS = {"down": device_down, "up": device_up}


class Flash(TypedDict):
    """The last action's result, shown once on the next page."""

    done: bool
    text: str


class AuthContext(TypedDict):
    """What every page gets to show the sign-in state (see :func:`auth_context`)."""

    actions: bool
    operator: str | None
    csrf: str
    flash: Flash | None


class Render(Protocol):
    """How a page is rendered (:meth:`plant.web.app._Pages.render`): a template with its context."""

    def __call__(
        self, request: Request, template: str, context: dict[str, Any], status_code: int = 200
    ) -> Response: ...


def enabled(settings: Settings) -> bool:
    """Whether operators may act at all (an operators file is configured)."""
    return settings.web.operators_file is not None


def auth_context(request: Request, settings: Settings) -> AuthContext:
    """What every page needs to show the sign-in state, the forms' token and the last action's result."""
    if not enabled(settings) or "session" not in request.scope:
        return {"actions": False, "operator": None, "csrf": "", "flash": None}
    session = request.session
    operator = session.get("operator")
    if operator and "csrf" not in session:
        session["csrf"] = new_csrf_token()
    return {
        "actions": True,
        "operator": operator,
        "csrf": session.get("csrf", ""),
        "flash": session.pop("flash", None),
    }


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a urlencoded form (the only kind the pages post); the first value of each."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, f"Form too large (over {MAX_FORM_BYTES} bytes); shorten the reason.")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def _require_enabled(settings: Settings) -> Path:
    """The operators file; 403 when none is configured (actions are off)."""
    operators_file = settings.web.operators_file
    if operators_file is None:
        raise HTTPException(403, NO_OPERATORS)
    return operators_file


def _require_csrf(request: Request, form: dict[str, str]) -> None:
    if not csrf_ok(request.session.get("csrf"), form.get("csrf")):
        raise HTTPException(
            403,
            "The form's security token does not match your session (an old page, or a form "
            "from another site); reload the page and try again.",
        )


def _require_operator(request: Request, form: dict[str, str]) -> str:
    operator: str | None = request.session.get("operator")
    if not operator:
        raise HTTPException(401, "Sign in first (/login): only a signed-in operator may act.")
    _require_csrf(request, form)
    return operator


def _local(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site (never another host), else ``default``."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _flash(request: Request, outcome: Outcome) -> None:
    request.session["flash"] = {
        "done": outcome.done,
        "text": f"{outcome.identifier}: {outcome.word}"
        + (f" — {outcome.message}" if outcome.message else ""),
    }


class Actions:
    """The POST endpoints and the sign-in page."""

    def __init__(self, settings: Settings, ledger: Ledger, render: Render) -> None:
        self.settings, self.ledger, self.render = settings, ledger, render

    def login_page(self, request: Request) -> Response:
        _require_enabled(self.settings)
        request.session.setdefault("csrf", new_csrf_token())
        return self.render(
            request, "login.html", {"next": _local(request.query_params.get("next")), "error": None}
        )

    async def login(self, request: Request) -> Response:
        operators_file = _require_enabled(self.settings)
        form = await read_form(request)
        _require_csrf(request, form)
        name, target = form.get("name", "").strip(), _local(form.get("next"))
        if not check_login(operators_file, name, form.get("password", "")):
            return self.render(
                request, "login.html", {"next": target, "error": "Wrong name or password."}, status_code=401
            )
        request.session.clear()  # a new session on sign-in: nothing carried over from before
        request.session.update(
            {
                "operator": name,
                "csrf": new_csrf_token(),
                "flash": {"done": True, "text": f"Signed in as {name}."},
            }
        )
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request) -> Response:
        _require_enabled(self.settings)
        _require_csrf(request, await read_form(request))
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    async def letter(self, request: Request) -> Response:
        """Hold, release, cancel or pull the letter ``id`` (letter or tracking id); back to its page."""
        _require_enabled(self.settings)
        form = await read_form(request)
        operator = _require_operator(request, form)
        identifier = form.get("id", "").strip()
        try:
            action = Action(form.get("action", ""))
        except ValueError:
            raise HTTPException(
                400,
                f"Unknown action {form.get('action')!r}; use one of {', '.join(a.value for a in Action)}.",
            ) from None
        if not identifier:
            raise HTTPException(400, "No letter given (id).")
        (outcome,) = act(self.ledger, action, [identifier], form.get("reason", "").strip(), by=operator)
        _flash(request, outcome)
        return RedirectResponse(f"/pieces/{quote(identifier, safe='')}", status_code=303)

    async def device(self, request: Request) -> Response:
        """Take device ``name`` out of service (``down``) or back (``up``); then to the queue's Devices."""
        _require_enabled(self.settings)
        form = await read_form(request)
        operator = _require_operator(request, form)
        name, action = form.get("name", ""), form.get("action", "")
        if action not in DEVICE_ACTIONS:
            raise HTTPException(400, f"Unknown device action {action!r}; use down or up.")
        try:
            if action == "down":
                outcome = device_down(
                    self.ledger, self.settings, name, form.get("reason", "").strip(), by=operator
                )
            else:
                outcome = device_up(self.ledger, self.settings, name, by=operator)
        except NotFound as exc:
            outcome = Outcome(name, False, "refused", str(exc))
        _flash(request, outcome)
        return RedirectResponse("/#devices", status_code=303)
