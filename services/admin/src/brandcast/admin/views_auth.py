"""Log in, log out, and the health check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from brandcast.admin.security import current_user, start_session
from brandcast.admin.web import render, state


def _safe_next(target: str) -> str:
    # Only paths on this site: "//evil.example" or "https://..." would be an open redirect.
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def login_page(request: Request) -> Response:
    if current_user(request.session):
        return RedirectResponse(_safe_next(request.query_params.get("next", "/")), 303)
    return render(
        request, "login.html", {"next": request.query_params.get("next", "/"), "error": ""}
    )


async def login(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    if not name or not password or not state(request).users.verify(name, password):
        return render(
            request,
            "login.html",
            {"next": target, "error": "Wrong user name or password.", "username": name},
            status_code=401,
        )
    start_session(request.session, name)
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
]
