"""The manual reconciliation queue as a page: ``/reconcile`` lists the UNACCOUNTED pieces (``/api/reconcile``
the same as JSON), and a signed-in operator ends each — found, reprint or lost, with a reason — by a POST to
``/reconcile`` calling :func:`plant.reconcile.resolve`, as ``plant reconcile found|reprint|lost`` does.

The POST passes the gates of every action (:mod:`plant.web.actions`): actions configured, an operator signed
in, the form's CSRF token; the events name the operator. The result is shown once on the queue (303).
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from plant.config import Settings
from plant.ledger import Ledger
from plant.reconcile import Resolution, queue, resolve
from plant.web import queries
from plant.web.actions import Render, _flash, _require_enabled, _require_operator, read_form


def reconcile_data(conn: Any, at: float) -> dict[str, Any]:
    """What the page shows: every UNACCOUNTED piece, oldest first, with its ids, run, since and reason."""
    pieces = [{**p.as_dict(), "since": queries.iso(p.since)} for p in queue(conn)]
    return {"at": queries.iso(at), "count": len(pieces), "pieces": pieces}


class ReconcilePages:
    """``GET /reconcile`` (and ``/api/reconcile``) and ``POST /reconcile``."""

    def __init__(self, settings: Settings, ledger: Ledger, render: Render, clock: Any) -> None:
        self.settings, self.ledger, self.render, self.clock = settings, ledger, render, clock

    def page(self, request: Request) -> Response:
        with self.ledger.read() as conn:
            data = reconcile_data(conn, self.clock())
        if request.url.path.startswith("/api/"):
            return JSONResponse(data)
        return self.render(
            request,
            "reconcile.html",
            {
                "data": data,
                "title": "Reconcile",
                "refresh_s": self.settings.web.refresh_s,
                "api": "/api/reconcile",
                "at": data["at"],
                "resolutions": [r.value for r in Resolution],
            },
        )

    async def act(self, request: Request) -> Response:
        """End the UNACCOUNTED piece ``id`` the ``action`` way (found, reprint, lost) for ``reason``."""
        _require_enabled(self.settings)
        form = await read_form(request)
        operator = _require_operator(request, form)
        identifier = form.get("id", "").strip()
        try:
            resolution = Resolution(form.get("action", ""))
        except ValueError:
            raise HTTPException(
                400,
                f"Unknown action {form.get('action')!r}; use one of "
                f"{', '.join(r.value for r in Resolution)}.",
            ) from None
        if not identifier:
            raise HTTPException(400, "No piece given (id).")
        outcome = resolve(self.ledger, resolution, identifier, form.get("reason", ""), by=operator)
        _flash(request, outcome)
        return RedirectResponse("/reconcile", status_code=303)
