"""The Starlette application: HTML pages for operators, the QA station and managers, the JSON API beside them,
Prometheus ``/metrics``, and the signed-in operators' actions (:mod:`plant.web.actions`).

Every page has a twin under ``/api/`` that returns the very dict the page was rendered from
(:mod:`plant.web.queries`). Pages re-fetch themselves every ``web.refresh_s`` seconds (``static/live.js``) and
swap in the parts marked ``data-live``, so one renderer serves the first load and every refresh. All ledger
text (names and addresses come from senders) goes through Jinja's autoescaping, and the
Content-Security-Policy allows no inline script, so text that looks like markup is shown as text and never
run. Reading needs no sign-in; acting does, and only when ``[web] operators_file`` is set (then sessions are
signed cookies, HttpOnly and SameSite=Strict, keyed by ``web-session.key`` in the state dir).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plant.config import Settings
from plant.ledger import Ledger, now
from plant.ledger import schema as t
from plant.ledger.reads import dead_letter_counts
from plant.model import FINAL_STATES, State
from plant.web import queries
from plant.web.actions import Actions, auth_context, enabled
from plant.web.auth import SESSION_MAX_AGE_S, session_key
from plant.web.metrics import exposition
from plant.web.reconcile import ReconcilePages

HERE = Path(__file__).parent

#: Headers on every response: no inline script or style may run, nothing is cached, no framing.
SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


def create_app(settings: Settings, clock: Callable[[], float] = now) -> Starlette:
    """The web application over the ledger that ``settings`` name; ``clock`` is the time the pages show."""
    ledger = Ledger(settings.ledger_url)
    templates = Jinja2Templates(env=_environment())
    pages = _Pages(settings, ledger, templates, clock)
    actions = Actions(settings, ledger, pages.render)
    reconcile = ReconcilePages(settings, ledger, pages.render, clock)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        ledger.dispose()

    routes = [
        Route("/", pages.overview, name="overview"),
        Route("/submissions/{submission_id}", pages.submission, name="submission"),
        Route("/pieces/{identifier:path}", pages.piece, name="piece"),
        Route("/throughput", pages.throughput, name="throughput"),
        Route("/qa", pages.qa, name="qa"),
        Route("/metrics", pages.metrics, name="metrics"),
        Route("/api/health", pages.health, name="health"),
        Route("/api/overview", pages.overview, name="api_overview"),
        Route("/api/submissions/{submission_id}", pages.submission, name="api_submission"),
        Route("/api/pieces/{identifier:path}", pages.piece, name="api_piece"),
        Route("/api/throughput", pages.throughput, name="api_throughput"),
        Route("/api/qa", pages.qa, name="api_qa"),
        Route("/login", actions.login_page, methods=["GET"], name="login_page"),
        Route("/login", actions.login, methods=["POST"], name="login"),
        Route("/logout", actions.logout, methods=["POST"], name="logout"),
        Route("/actions/letter", actions.letter, methods=["POST"], name="letter_action"),
        Route("/actions/device", actions.device, methods=["POST"], name="device_action"),
        Route("/reconcile", reconcile.page, methods=["GET"], name="reconcile"),
        Route("/api/reconcile", reconcile.page, name="api_reconcile"),
        Route("/reconcile", reconcile.act, methods=["POST"], name="reconcile_action"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    # Starlette types every handler as taking any Exception; this one is registered for HTTPException only.
    handlers = {HTTPException: pages.error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)  # type: ignore[arg-type]
    if enabled(settings):  # no operators, no sessions: nothing is written into the state dir for them
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        app.add_middleware(
            SessionMiddleware,
            secret_key=session_key(settings),
            session_cookie="plant_session",
            max_age=SESSION_MAX_AGE_S,
            same_site="strict",
            https_only=settings.web.cookie_https_only,
        )
    app.add_middleware(_SecurityHeaders)
    return app


class _Pages:
    """The endpoints: each reads one snapshot of the ledger and answers HTML, or JSON under ``/api/``."""

    def __init__(
        self, settings: Settings, ledger: Ledger, templates: Jinja2Templates, clock: Callable[[], float]
    ) -> None:
        self.settings, self.ledger, self.templates, self.clock = settings, ledger, templates, clock

    def overview(self, request: Request) -> Response:
        with self.ledger.read() as conn:
            data = queries.overview(conn, self.settings, self.clock())
        return self._answer(request, "overview.html", data, "Queue")

    def submission(self, request: Request) -> Response:
        submission_id = request.path_params["submission_id"]
        state = _state_param(request)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        limit = _int_param(request, "limit", queries.PAGE_SIZE, 1, queries.PAGE_MAX)
        with self.ledger.read() as conn:
            data = queries.submission(conn, submission_id, offset=offset, limit=limit, state=state)
        if data is None:
            raise HTTPException(
                404,
                f"No submission {submission_id!r} in the ledger; check the id printed by "
                "`plant run` or the receipt file's name.",
            )
        return self._answer(request, "submission.html", data, f"Submission {submission_id}")

    def piece(self, request: Request) -> Response:
        identifier = request.path_params["identifier"]
        with self.ledger.read() as conn:
            data = queries.piece(conn, identifier)
        if data is None:
            raise HTTPException(
                404,
                f"No letter with letter id or tracking id {identifier!r} in the ledger; check "
                "the id on the receipt.",
            )
        return self._answer(request, "piece.html", data, f"Piece {identifier}")

    def throughput(self, request: Request) -> Response:
        hours = _int_param(request, "hours", queries.DEFAULT_HOURS, 1, queries.MAX_HOURS)
        with self.ledger.read() as conn:
            data = queries.throughput(conn, self.clock(), hours)
        return self._answer(request, "throughput.html", data, "Throughput")

    def qa(self, request: Request) -> Response:
        hours = _int_param(request, "hours", queries.QA_DEFAULT_HOURS, 1, queries.QA_MAX_HOURS)
        with self.ledger.read() as conn:
            data = queries.qa(conn, self.settings, self.clock(), hours)
        return self._answer(request, "qa.html", data, "QA")

    def metrics(self, request: Request) -> Response:
        """Prometheus exposition of the ledger's figures; 503 (so the scrape counts as failed) when it
        cannot be read."""
        try:
            with self.ledger.read() as conn:
                figures = queries.metrics(conn, self.settings, self.clock())
                dead_letters = dead_letter_counts(conn)
        except SQLAlchemyError as exc:
            return PlainTextResponse(
                f"ledger unavailable: {type(_cause(exc)).__name__}: {_cause(exc)}\n", status_code=503
            )
        body, content_type = exposition(figures, request.headers.get("accept"), dead_letters)
        return Response(body, media_type=content_type)

    def health(self, request: Request) -> Response:
        """200 when the ledger answers a query, 503 (with the reason) when it does not."""
        try:
            with self.ledger.read() as conn:
                version = conn.execute(select(t.schema_info.c.version)).scalar()
        except SQLAlchemyError as exc:
            return JSONResponse(
                {"status": "unavailable", "ledger": f"{type(_cause(exc)).__name__}: {_cause(exc)}"},
                status_code=503,
            )
        return JSONResponse(
            {"status": "ok", "ledger": "ok", "schema_version": version, "at": queries.iso(self.clock())}
        )

    def error(self, request: Request, exc: HTTPException) -> Response:
        if _is_api(request):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return self.render(
            request,
            "error.html",
            {"title": f"{exc.status_code}", "detail": exc.detail, "refresh_s": 0, "api": None},
            status_code=exc.status_code,
        )

    def render(
        self, request: Request, template: str, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        """An HTML page: ``context`` plus the sign-in state, the forms' CSRF token and the last action's
        result."""
        context = {
            "title": "",
            "refresh_s": 0,
            "api": None,
            "at": queries.iso(self.clock()),
            **context,
            **auth_context(request, self.settings),
        }
        return self.templates.TemplateResponse(request, template, context, status_code=status_code)

    def _answer(self, request: Request, template: str, data: Mapping[str, Any], title: str) -> Response:
        if _is_api(request):
            return JSONResponse(data)
        path = request.scope["path"]  # percent-decoded: quoted again so ids with '#', '?' or '%' survive
        api = "/api" + quote(path, safe="/") if path != "/" else "/api/overview"
        if request.scope["query_string"]:
            api += "?" + request.scope["query_string"].decode("latin-1")
        return self.render(
            request,
            template,
            {
                "data": data,
                "title": title,
                "refresh_s": self.settings.web.refresh_s,
                "api": api,
                "at": data.get("at") or queries.iso(self.clock()),
                "states": queries.STATES,
            },
        )


def _cause(exc: SQLAlchemyError) -> BaseException:
    """The database driver's error behind ``exc`` (``orig``, on the errors that carry one), else ``exc``."""
    orig: BaseException | None = getattr(exc, "orig", None)
    return orig or exc


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise HTTPException(400, f"?{name}={raw!r}: use a whole number from {low} to {high}.")
    return value


def _state_param(request: Request) -> State | None:
    raw = request.query_params.get("state")
    if not raw:
        return None
    try:
        return State(raw)
    except ValueError:
        raise HTTPException(
            400, f"?state={raw!r} is not a state; use one of {', '.join(queries.STATES)}."
        ) from None


def _environment() -> jinja2.Environment:
    """Jinja with autoescaping on for every template (ledger text is sender text) and unknown names an
    error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["segment"] = lambda value: quote(str(value), safe="")
    # plain text, escaped like any other (Jinja's own tojson would show '<' as \u003c)
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)
    env.filters["when"] = lambda value: (value or "").replace("T", " ").replace("+00:00", "Z")
    env.tests["final"] = lambda state: state in {s.value for s in FINAL_STATES}
    return env


class _SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)
