"""A loopback stand-in for Mastodon, Bluesky, X and LinkedIn, all on one port.

It answers the endpoints the adapter uses the way the networks do (limits,
sessions and token refresh, validation, error bodies, rate-limit headers),
records every post (``GET /_emulator/posts``) and every request
(``GET /_emulator/requests``), and fails on demand
(``POST /_emulator/faults`` with ``{"network", "kind", "count"}``).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brandcast.shared.http_thread import serve_in_thread
from brandcast.social.emulator import _bluesky, _linkedin, _mastodon, _x
from brandcast.social.emulator._common import json_object, state_of
from brandcast.social.emulator._state import (
    EMULATED_NETWORKS,
    FAULT_KINDS,
    EmulatorState,
    Fault,
)

_NETWORK_BY_PREFIX = {
    "/api/": "mastodon",
    "/xrpc/": "bluesky",
    "/2/": "x",
    "/rest/": "linkedin",
    "/oauth/": "linkedin",
}


async def list_posts(request: Request) -> Response:
    state = state_of(request)
    network = request.query_params.get("network")
    with state.lock:
        posts = [p for p in state.posts if network is None or p["network"] == network]
    return JSONResponse(posts)


async def list_requests(request: Request) -> Response:
    state = state_of(request)
    with state.lock:
        return JSONResponse(list(state.requests))


async def add_fault(request: Request) -> Response:
    body = await json_object(request)
    if body is None:
        return JSONResponse({"error": "body: expected a JSON object"}, status_code=400)
    if body.get("network") not in EMULATED_NETWORKS:
        return JSONResponse(
            {"error": f"network: must be one of {', '.join(EMULATED_NETWORKS)}"}, status_code=400
        )
    if body.get("kind") not in FAULT_KINDS:
        return JSONResponse(
            {"error": f"kind: must be one of {', '.join(FAULT_KINDS)}"}, status_code=400
        )
    if body["kind"] == "late_answer" and body["network"] not in ("bluesky", "linkedin"):
        return JSONResponse(
            {"error": "kind: late_answer is emulated for bluesky and linkedin"}, status_code=400
        )
    known = {f.name for f in fields(Fault)}
    try:
        fault = Fault(**{k: v for k, v in body.items() if k in known})
    except TypeError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if not isinstance(fault.count, int) or fault.count < 1:
        return JSONResponse({"error": "count: must be a positive integer"}, status_code=400)
    state_of(request).add_fault(fault)
    return JSONResponse(asdict(fault), status_code=201)


async def _log_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    path = request.url.path
    network = next((n for p, n in _NETWORK_BY_PREFIX.items() if path.startswith(p)), None)
    if network is not None:
        state_of(request).record_request(
            {
                "network": network,
                "method": request.method,
                "path": path,
                "status": response.status_code,
            }
        )
    return response


def create_app(state: EmulatorState | None = None) -> Starlette:
    app = Starlette(
        routes=[
            *_mastodon.routes,
            *_bluesky.routes,
            *_x.routes,
            *_linkedin.routes,
            Route("/_emulator/posts", list_posts, methods=["GET"]),
            Route("/_emulator/requests", list_requests, methods=["GET"]),
            Route("/_emulator/faults", add_fault, methods=["POST"]),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=_log_requests)],
    )
    app.state.emulator = state or EmulatorState()
    return app


class RunningEmulator:
    """An emulator serving in a background thread; ``stop()`` ends it."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, port: int, state: EmulatorState
    ) -> None:
        self.server = server
        self.port = port
        self.state = state
        self.url = f"http://127.0.0.1:{port}"
        self._thread = thread

    def posts(self, network: str | None = None) -> list[dict[str, Any]]:
        """What was posted, as ``GET /_emulator/posts`` lists it."""
        params = {"network": network} if network else {}
        answer = httpx.get(f"{self.url}/_emulator/posts", params=params, timeout=5)
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()
        return result

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """Network requests received (``GET /_emulator/requests``), optionally for one path."""
        answer = httpx.get(f"{self.url}/_emulator/requests", timeout=5)
        answer.raise_for_status()
        return [entry for entry in answer.json() if path is None or entry["path"] == path]

    def inject(self, network: str, kind: str, count: int = 1, **options: Any) -> None:
        """Make the next ``count`` posts to ``network`` fail (``POST /_emulator/faults``)."""
        answer = httpx.post(
            f"{self.url}/_emulator/faults",
            json={"network": network, "kind": kind, "count": count, **options},
            timeout=5,
        )
        answer.raise_for_status()

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)


def start_emulator(
    port: int = 0,
    host: str = "127.0.0.1",
    state: EmulatorState | None = None,
    startup_timeout: float = 10.0,
) -> tuple[RunningEmulator, int]:
    """Serve the emulator in this process (port 0 picks a free port)."""
    state = state or EmulatorState()
    running = serve_in_thread(
        create_app(state),
        host=host,
        port=port,
        start_timeout=startup_timeout,
        name="social-emulator",
    )
    return RunningEmulator(running.server, running.thread, running.port, state), running.port


def serve(host: str, port: int, state: EmulatorState | None = None) -> None:
    """Serve in the foreground until interrupted (``brandcast-social emulator``)."""
    uvicorn.run(create_app(state), host=host, port=port, log_level="info", lifespan="off")


__all__ = ["EmulatorState", "Fault", "RunningEmulator", "create_app", "serve", "start_emulator"]
