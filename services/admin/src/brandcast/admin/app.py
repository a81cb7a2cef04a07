"""``create_app``: the one place the admin is wired (settings, users, brand kits,
orchestrator client, sessions, login, CSRF, error pages)."""

from __future__ import annotations

import logging
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from brandcast.admin import views_auth, views_campaigns, views_compose, views_suppressions
from brandcast.admin.brand_kits import load_brand_kits
from brandcast.admin.orchestrator import (
    Orchestrator,
    OrchestratorError,
    OrchestratorNotFoundError,
    OrchestratorRejectedError,
    OrchestratorUnavailableError,
    StubFactory,
    grpc_stub_factory,
)
from brandcast.admin.security import CSRFMiddleware, LoginRequiredMiddleware
from brandcast.admin.security_headers import SecurityHeadersMiddleware
from brandcast.admin.sessions import SessionRegistry
from brandcast.admin.settings import AdminSettings
from brandcast.admin.users import DEMO_USER, UserDirectory, UsersConfigError
from brandcast.admin.web import AdminState, make_templates, render

log = logging.getLogger(__name__)

SESSION_COOKIE = "brandcast_admin"


def _error_response(request: Request, status_code: int, title: str, explanation: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": f"{title}: {explanation}"}, status_code=status_code)
    return render(
        request,
        "error.html",
        {"title": title, "explanation": explanation, "status_code": status_code},
        status_code=status_code,
    )


async def _orchestrator_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OrchestratorError)
    if isinstance(exc, OrchestratorUnavailableError):
        address = request.app.state.admin.settings.orchestrator_address
        return _error_response(
            request,
            503,
            "The orchestrator is unreachable",
            f"The admin could not talk to the orchestrator at {address}: {exc.message}. "
            "Nothing was changed. Check that the orchestrator is running, then reload this page.",
        )
    if isinstance(exc, OrchestratorNotFoundError):
        return _error_response(request, 404, "Not found", exc.message)
    if isinstance(exc, OrchestratorRejectedError):
        return _error_response(request, 400, "The orchestrator refused the request", exc.message)
    return _error_response(request, 502, "The orchestrator failed", exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error_response(request, exc.status_code, "Error", str(exc.detail))


def _users(settings: AdminSettings) -> UserDirectory:
    if settings.users:
        return UserDirectory.parse(settings.users)
    if not settings.demo_user:
        raise UsersConfigError(
            "ADMIN_USERS is empty and ADMIN_DEMO_USER is false: set ADMIN_USERS "
            "(name:hash pairs from `brandcast-admin hash-password`)"
        )
    users, password = UserDirectory.demo()
    # Dev convenience only: anyone deploying for real sets ADMIN_USERS. The
    # password never goes to the log, which is collected and kept elsewhere.
    if sys.stderr.isatty():
        print(
            f"ADMIN_USERS is unset: log in as {DEMO_USER!r} with password {password!r} "
            "(valid until restart)",
            file=sys.stderr,
        )
        return users
    folder = Path(tempfile.mkdtemp(prefix="brandcast-admin-"))
    secret = folder / "demo-password"
    secret.touch(mode=0o600)
    secret.write_text(password + "\n")
    log.warning(
        "ADMIN_USERS is unset: log in as %r with the password in %s (readable by this "
        "user only, valid until restart)",
        DEMO_USER,
        secret,
    )
    return users


def create_app(
    settings: AdminSettings | None = None,
    *,
    stub_factory: StubFactory = grpc_stub_factory,
    users: UserDirectory | None = None,
) -> Starlette:
    """The admin web app; ``stub_factory`` lets a test point it at any gRPC server."""
    settings = settings or AdminSettings()
    secret_key = settings.secret_key
    if not secret_key:
        log.warning("ADMIN_SECRET_KEY is unset: sessions end when the admin restarts")
        secret_key = secrets.token_urlsafe(32)
    state = AdminState(
        settings=settings,
        users=users or _users(settings),
        kits=load_brand_kits(settings.brand_kits_file),
        templates=make_templates(),
        stub_factory=stub_factory,
        sessions=SessionRegistry(settings.session_max_age),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.orchestrator = Orchestrator(
            stub_factory(settings),
            api_token=settings.api_token,
            timeout=settings.orchestrator_timeout,
        )
        try:
            yield
        finally:
            await state.orchestrator.close()
            state.orchestrator = None

    app = Starlette(
        routes=[
            *views_auth.routes,
            *views_compose.routes,
            *views_campaigns.routes,
            *views_suppressions.routes,
            Mount("/static", StaticFiles(packages=[("brandcast.admin", "static")]), name="static"),
        ],
        middleware=[
            # Outermost: every response carries them, error pages and redirects too.
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                SessionMiddleware,
                secret_key=secret_key,
                session_cookie=SESSION_COOKIE,
                max_age=settings.session_max_age,
                same_site="lax",
                https_only=settings.cookie_https_only,
            ),
            Middleware(LoginRequiredMiddleware, sessions=state.sessions),
            Middleware(CSRFMiddleware, max_body_bytes=settings.max_upload_bytes + 1024 * 1024),
        ],
        exception_handlers={OrchestratorError: _orchestrator_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.admin = state
    return app
