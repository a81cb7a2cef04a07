"""Helpers the emulated networks share."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from brandcast.social.emulator._state import EmulatorState, Fault


def state_of(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def json_object(request: Request) -> dict[str, Any] | None:
    """The request's JSON object, or None when the body is not one."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def hold_for_timeout(fault: Fault) -> Response:
    """Answer so late that the client has given up (a ``timeout`` fault)."""
    await asyncio.sleep(fault.delay)
    return JSONResponse({"error": "GatewayTimeout"}, status_code=504)
