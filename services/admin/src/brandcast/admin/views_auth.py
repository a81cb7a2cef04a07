"""Log in, log out, and the health check."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from brandcast.admin.security import SESSION_ID_KEY, current_user, start_session
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
    admin = state(request)
    client = request.client.host if request.client else "unknown"
    wait = admin.login_throttle.wait_for(name, client)
    if wait > 0:
        # Refused before the password is even checked: a right guess now says nothing.
        response = render(
            request,
            "login.html",
            {
                "next": target,
                "error": f"Too many failed logins. Try again in {math.ceil(wait)} seconds.",
                "username": name,
            },
            status_code=429,
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    if not name or not password or not admin.users.verify(name, password):
        admin.login_throttle.failed(name, client)
        return render(
            request,
            "login.html",
            {"next": target, "error": "Wrong user name or password.", "username": name},
            status_code=401,
        )
    admin.login_throttle.succeeded(name, client)
    start_session(request.session, name, admin.sessions.open(name))
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    # The server forgets the session: a copy of the cookie is worthless from now on.
    state(request).sessions.revoke(request.session.get(SESSION_ID_KEY))
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
