"""The local web app's HTTP side: the page, its files, the result, history and report routes.

Starlette, served by uvicorn on 127.0.0.1 only (see :mod:`hiprom.app.runner`). Every response
carries ``Content-Security-Policy: default-src 'self'`` (the page loads nothing from anywhere
else and can talk to nothing else), requests must name this machine as their Host (no DNS
rebinding), and the camera WebSocket (:mod:`hiprom.app.ws`) only accepts this page's
Origin.
"""

from __future__ import annotations

from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hiprom.app import cards
from hiprom.app.session import skeleton_edges
from hiprom.app.state import LOOPBACK_NAMES, AppConfig, AppState, SessionLog
from hiprom.errors import HipromError

__all__ = ["CSP", "create_app"]

#: The page's policy: scripts, styles, images and sockets from this server only.
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The downloaded report is one self-contained file: inline CSS and data: images, no fetches.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class SecurityHeaders:
    """ASGI middleware: the CSP and friends on every HTTP response that lacks its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for key, value in ((b"content-security-policy", CSP),
                                   (b"x-content-type-options", "nosniff"),
                                   (b"referrer-policy", "no-referrer"),
                                   (b"cross-origin-opener-policy", "same-origin"),
                                   (b"cross-origin-resource-policy", "same-origin"),
                                   (b"permissions-policy", "camera=(self), microphone=()"),
                                   (b"cache-control", "no-store")):
                    if key not in names:
                        headers.append((key, value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _state(request: Request) -> AppState:
    return request.app.state.hiprom


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def index(request: Request) -> Response:
    """The single page."""
    page = resources.files("hiprom.app").joinpath("static/index.html").read_bytes()
    return HTMLResponse(page)


async def api_config(request: Request) -> Response:
    """The safety screen, the person and the skeleton for the page."""
    cfg = _state(request).config
    return JSONResponse(cards.config_payload(person=cfg.person, out_dir=cfg.out_dir,
                                             edges=skeleton_edges()))


async def api_stats(request: Request) -> Response:
    """Per session: frames, drops, capture → overlay latency and time in the server."""
    raw = request.query_params.get("raw") == "1"
    return JSONResponse({"sessions": [s.summary(raw=raw)
                                      for s in _state(request).sessions.values()]})


def _saved(request: Request) -> SessionLog | Response:
    log = _state(request).sessions.get(request.path_params["sid"])
    if log is None or log.json_path is None:
        return _error(404, "no saved test with this id in this run of hiprom app")
    return log


async def session_result(request: Request) -> Response:
    """The result card of a saved test."""
    log = _saved(request)
    return log if isinstance(log, Response) else JSONResponse(log.card)


def _report_of(request: Request) -> tuple[str, str] | Response:
    """The saved test's report HTML and file stem, or the error response."""
    log = _saved(request)
    if isinstance(log, Response):
        return log
    assert log.json_path is not None
    in_history = bool(log.card and log.card.get("in_history"))
    try:
        html = cards.report_html(log.json_path, person=log.person if in_history else None)
    except HipromError as err:
        return _error(404, str(err))
    return html, f"hiprom-report-{log.json_path.stem}"


def session_report(request: Request) -> Response:
    """The HTML report of a saved test, as a download (sync: runs in the thread pool)."""
    found = _report_of(request)
    if isinstance(found, Response):
        return found
    html, stem = found
    disposition = f'attachment; filename="{stem}.html"'
    return HTMLResponse(html, headers={"content-security-policy": REPORT_CSP,
                                       "content-disposition": disposition})


def session_report_pdf(request: Request) -> Response:
    """The same report printed to PDF (WeasyPrint, the ``pdf`` extra), as a download."""
    from hiprom.report.document import html_to_pdf

    found = _report_of(request)
    if isinstance(found, Response):
        return found
    html, stem = found
    try:
        pdf = html_to_pdf(html)
    except HipromError as err:   # WeasyPrint or pango missing: say how to install it
        return _error(501, str(err))
    return Response(pdf, media_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="{stem}.pdf"'})


def history(request: Request) -> Response:
    """A person's saved tests and the change since the last one."""
    try:
        return JSONResponse(cards.history_payload(request.path_params["person"]))
    except HipromError as err:
        return _error(404, str(err))


def history_plot(request: Request) -> Response:
    """The person's history chart (PNG)."""
    try:
        png = cards.history_png(request.path_params["person"])
    except HipromError as err:
        return _error(404, str(err))
    if png is None:
        return _error(404, "no saved test yet")
    return Response(png, media_type="image/png")


def diagram(request: Request) -> Response:
    """One exercise's diagram (SVG, from :mod:`hiprom.report.diagrams`)."""
    from hiprom.report.diagrams import build_exercise_svg

    try:
        svg = build_exercise_svg(request.path_params["exercise_id"])
    except KeyError:
        return _error(404, "no such exercise")
    return Response(svg, media_type="image/svg+xml")


def create_app(config: AppConfig) -> Starlette:
    """The ASGI application for one run of ``hiprom app``."""
    from hiprom.app.ws import session_socket

    routes = [
        Route("/", index),
        Route("/api/config", api_config),
        Route("/api/stats", api_stats),
        Route("/api/sessions/{sid}/result", session_result),
        Route("/api/sessions/{sid}/report.html", session_report),
        Route("/api/sessions/{sid}/report.pdf", session_report_pdf),
        # A name may hold a slash ("Ada/Ben"): it is sent %2F-quoted, but routes match the
        # decoded path, so the name is the rest of the path (the plot's route comes first).
        Route("/api/history/{person:path}/plot.png", history_plot),
        Route("/api/history/{person:path}", history),
        Route("/diagrams/{exercise_id}.svg", diagram),
        WebSocketRoute("/ws", session_socket),
        Mount("/static", app=StaticFiles(packages=[("hiprom.app", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK_NAMES)),
        Middleware(SecurityHeaders),
    ])
    app.state.hiprom = AppState(config)
    return app
