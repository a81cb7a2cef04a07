"""Run the admin under uvicorn in a background thread (tests, embedded demos)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp

from brandcast.shared.http_thread import serve_in_thread as serve_app_in_thread


@contextmanager
def serve_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 10.0
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (port 0 picks a free port)."""
    # The admin's lifespan opens and closes its orchestrator client.
    with serve_app_in_thread(
        app, host=host, port=port, start_timeout=start_timeout, lifespan="on", name="admin-uvicorn"
    ) as running:
        yield running.url
