"""What every view shares: the app's state, template rendering and flash messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from brandcast.admin.login_throttle import LoginThrottle
from brandcast.admin.orchestrator import Orchestrator, StubFactory
from brandcast.admin.security import csrf_token, current_user
from brandcast.admin.sessions import SessionRegistry
from brandcast.admin.settings import AdminSettings
from brandcast.admin.users import UserDirectory
from brandcast.v1 import campaign_pb2


@dataclass
class AdminState:
    settings: AdminSettings
    users: UserDirectory
    kits: dict[str, campaign_pb2.BrandKit]
    templates: Jinja2Templates
    stub_factory: StubFactory
    #: Live logins (server side): logout revokes, a copied cookie then fails.
    sessions: SessionRegistry = field(default_factory=lambda: SessionRegistry(8 * 3600))
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    #: Set by the app's lifespan: grpc.aio channels must be made inside the event loop.
    orchestrator: Orchestrator | None = field(default=None)


def state(request: Request) -> AdminState:
    admin: AdminState = request.app.state.admin
    return admin


def orchestrator(request: Request) -> Orchestrator:
    client = state(request).orchestrator
    if client is None:
        raise RuntimeError("the admin app is not started (run it under its lifespan)")
    return client


def flash(request: Request, message: str, kind: str = "info") -> None:
    """A message shown once, on the next page rendered for this session."""
    messages = request.session.setdefault("flash", [])
    messages.append({"kind": kind, "message": message})
    request.session["flash"] = messages


def _page_context(request: Request) -> dict[str, Any]:
    return {
        "user": current_user(request.session),
        "csrf_token": csrf_token(request.session),
        "flashes": request.session.pop("flash", []),
    }


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("brandcast.admin", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env, context_processors=[_page_context])


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    response: Response = state(request).templates.TemplateResponse(
        request, template, context or {}, status_code=status_code
    )
    # Pages hold recipient data: keep them out of shared caches and the back-forward cache.
    response.headers["Cache-Control"] = "no-store"
    return response
