"""The dashboard's web app: token-guarded pages, the JSON API and ``/metrics``.

``create_app(source, token)`` builds a FastAPI app over a
:class:`~evofarm.dashboard.source.CampaignSource`. Every route but ``/login``
needs the token (``Authorization: Bearer`` or the login cookie): API calls
without it get 401 JSON, pages a redirect to the login form. Assets are served
from the package (``evofarm/dashboard/static``), never from a CDN.

The app reads; it changes a campaign only through the control calls the CLI
uses: :func:`evofarm.campaign.lifecycle.request_stop`,
:func:`evofarm.campaign.control.kill` and, for a winner waiting on
``approval: {policy: manual}``, :func:`evofarm.campaign.decide.decide` and
:func:`~evofarm.campaign.decide.deploy` (``evofarm approve``/``reject``'s).

Cross-site requests: the login cookie is ``SameSite=Strict``, and a POST that
authenticates with the cookie (not the bearer header) must also carry
:data:`CSRF_HEADER`, which a form on another page (another port of this host
is the same *site*) cannot add and a cross-origin script cannot send without a
CORS preflight this app never grants.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from evofarm.campaign import control, lifecycle
from evofarm.campaign.approval import Decision, deploy
from evofarm.campaign.decide import decide
from evofarm.campaign.deployments import DeploymentRegistry
from evofarm.campaign.reports import anomaly_events
from evofarm.dashboard import auth, metrics, pages, views
from evofarm.dashboard.source import CampaignSource
from evofarm.errors import CampaignStateError, FarmError

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
STATIC = {"dashboard.js": "text/javascript", "style.css": "text/css"}
#: The header a cookie-authenticated POST must carry (the page's script sends it).
CSRF_HEADER = "x-evofarm-dashboard"
#: Who a dashboard decision is recorded as when the request names no one.
DASHBOARD_USER = "dashboard"


class DecisionBody(BaseModel):
    """The JSON body of an approve or reject call."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)
    by: str = Field(default=DASHBOARD_USER, min_length=1, max_length=100)


def _asset(name: str) -> str:
    return resources.files("evofarm.dashboard").joinpath("static", name).read_text("utf-8")


def _install_auth(app: FastAPI, token: str) -> None:
    """The token check on every request but ``/login``, and the login form."""

    @app.middleware("http")
    async def require_token(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path == "/login":
            return await call_next(request)
        by_header = auth.bearer(request.headers.get("authorization"))
        presented = by_header or request.cookies.get(auth.COOKIE)
        if auth.matches(presented, token):
            if by_header is None and request.method != "GET" and CSRF_HEADER not in request.headers:
                return JSONResponse(
                    {"error": f"a cookie-authenticated {request.method} needs {CSRF_HEADER}"},
                    status_code=403,
                )
            return await call_next(request)
        if request.url.path.startswith(("/api/", "/metrics")):
            return JSONResponse({"error": "a valid dashboard token is required"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    def login_form(next: str = "/", failed: bool = False) -> str:
        return pages.login(next_path=_local(next), failed=failed)

    @app.post("/login")
    async def login(request: Request) -> Response:
        # A urlencoded form parsed here: FastAPI's Form needs python-multipart for this.
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        target = _local(form.get("next", ["/"])[0])
        if not auth.matches(form.get("token", [""])[0], token):
            return RedirectResponse(f"/login?failed=1&next={quote(target)}", status_code=303)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(auth.COOKIE, token, httponly=True, samesite="strict")
        return response


def create_app(
    source: CampaignSource, token: str, *, deployments: DeploymentRegistry | None = None
) -> FastAPI:
    """The dashboard app over ``source``, guarded by ``token``.

    ``deployments`` is where an approved winner is deployed (``evofarm
    approve``'s registry); without one, approving answers 503 and records nothing.
    """
    app = FastAPI(title="evofarm dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    _install_auth(app, token)

    @app.exception_handler(CampaignStateError)
    async def not_found(_request: Request, exc: CampaignStateError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    def _known(campaign: str) -> None:
        _require_known(source, campaign)

    @app.exception_handler(RequestValidationError)
    async def bad_input(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(str(e.get("msg", e)) for e in exc.errors())
        return JSONResponse({"error": f"bad request: {problems}"}, status_code=400)

    @app.exception_handler(FarmError)
    async def farm_error(_request: Request, exc: FarmError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return JSONResponse({"error": "no such asset"}, status_code=404)
        return Response(_asset(name), media_type=STATIC[name])

    @app.get("/", response_class=HTMLResponse)
    def campaigns_page() -> str:
        return pages.campaigns()

    @app.get("/campaigns/{campaign}", response_class=HTMLResponse)
    def campaign_page(campaign: str) -> str:
        _known(campaign)  # 404 for an unknown id, before rendering
        return pages.campaign(campaign)

    @app.get("/api/campaigns")
    def api_campaigns() -> dict[str, Any]:
        rows = []
        for campaign in source.campaign_ids():
            row = views.campaign_row(source.store(campaign), campaign)
            if row["status"] in lifecycle.ACTIVE:
                fleet = source.fleet(campaign)
                row["workers_online"], row["queues"] = fleet.workers_online, fleet.queues
            rows.append(row)
        fleet = source.fleet(None)
        return {
            "campaigns": rows,
            "workers_online": fleet.workers_online,
            "queues": fleet.queues,
        }

    @app.get("/api/campaigns/{campaign}")
    def api_campaign(campaign: str) -> dict[str, Any]:
        _known(campaign)
        store = source.store(campaign)
        detail = views.campaign_detail(store, campaign)
        fleet = source.fleet(campaign) if detail["status"] in lifecycle.ACTIVE else None
        detail["workers_online"] = fleet.workers_online if fleet else None
        detail["queues"] = fleet.queues if fleet else {}
        detail["anomalies"] = anomaly_events.stored(store, campaign)
        if fleet is not None:
            detail["anomalies"] += anomaly_events.live(
                store, campaign, workers_online=fleet.workers_online, queued=fleet.queues
            )
        return detail

    def _read(fn: Callable[[Any, str], Any]) -> Callable[[str], Any]:
        def endpoint(campaign: str) -> Any:
            _known(campaign)
            return fn(source.store(campaign), campaign)

        return endpoint

    for path, fn in (
        ("history", views.history),
        ("lineage", views.lineage),
        ("operators", views.operator_stats),
        ("resources", views.resources),
        ("museum", views.museum),
        ("gallery", views.gallery),
        ("anomalies", anomaly_events.stored),
    ):
        app.get(f"/api/campaigns/{{campaign}}/{path}", name=path)(_read(fn))

    @app.get("/api/campaigns/{campaign}/genomes/{genome}")
    def api_genome(campaign: str, genome: str) -> dict[str, Any]:
        _known(campaign)
        return views.genome_detail(source.store(campaign), campaign, genome)

    @app.post("/api/campaigns/{campaign}/stop")
    def api_stop(campaign: str) -> dict[str, Any]:
        _known(campaign)
        lifecycle.request_stop(source.store(campaign), campaign)
        return {"campaign": campaign, "stop_requested": True}

    @app.post("/api/campaigns/{campaign}/kill")
    def api_kill(campaign: str) -> dict[str, Any]:
        _known(campaign)
        killed = control.kill(source.store(campaign), campaign, source.revoke(campaign))
        return {"campaign": campaign, "killed": killed}

    _install_decisions(app, source, deployments)

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(source), media_type=metrics.CONTENT_TYPE)

    return app


def _require_known(source: CampaignSource, campaign: str) -> None:
    """Raise :class:`CampaignStateError` (a 404) unless ``campaign`` exists."""
    # An id that is not even well formed is "no such campaign" here, not a farm failure.
    if not _ID.match(campaign):
        raise CampaignStateError(f"no campaign {campaign!r}")
    lifecycle.require(source.store(campaign), campaign)


def _install_decisions(
    app: FastAPI, source: CampaignSource, deployments: DeploymentRegistry | None
) -> None:
    """``POST /api/campaigns/{id}/approve`` and ``/reject``: ``evofarm approve/reject``'s calls."""

    def _decide(campaign: str, decision: Decision) -> Response:
        """Record ``decision`` (and deploy an approval): 409 when the state forbids it."""
        _require_known(source, campaign)  # an unknown id stays a 404
        if decision.state == "approved" and deployments is None:
            return JSONResponse({"error": "this dashboard has no deployment registry"}, 503)
        if decision.state == "rejected" and not decision.note.strip():
            return JSONResponse({"error": "a rejection needs a note saying why"}, 400)
        try:
            decided = decide(source.store(campaign), campaign, decision)
            answer: dict[str, Any] = {"campaign": campaign, "approval": decision.state}
            if deployments is not None and decision.state == "approved":
                version = deploy(deployments, campaign, decided, decision)
                answer |= {"deployed": decided.name, "version": version.version}
        except CampaignStateError as exc:
            return JSONResponse({"error": str(exc)}, 409)
        return JSONResponse(answer)

    @app.post("/api/campaigns/{campaign}/approve")
    def api_approve(campaign: str, body: DecisionBody) -> Response:
        return _decide(campaign, Decision.now("approved", body.note, body.by))

    @app.post("/api/campaigns/{campaign}/reject")
    def api_reject(campaign: str, body: DecisionBody) -> Response:
        return _decide(campaign, Decision.now("rejected", body.note, body.by))


def _local(path: str) -> str:
    """A redirect target that stays on this site (no open redirect)."""
    return path if path.startswith("/") and not path.startswith("//") else "/"
