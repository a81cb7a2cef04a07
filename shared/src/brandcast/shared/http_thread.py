"""Serving an ASGI app with uvicorn in a background thread of this process.

For the webhook servers, the sandboxes (emulators, sinks) and tests: one helper
instead of one per service. Port 0 picks a free port; the call returns once the
server accepts connections.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


@dataclass
class BackgroundServer:
    """A running server: its port and URL, and how to stop it."""

    server: uvicorn.Server
    thread: threading.Thread
    port: int
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    start_timeout: float = 10.0,
    lifespan: Literal["on", "off"] = "off",
    name: str = "uvicorn",
) -> BackgroundServer:
    """Start ``app`` on ``host:port`` in a daemon thread and wait until it accepts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app, log_level="warning", lifespan=lifespan, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the HTTP server on {host}:{bound_port} did not start")
        time.sleep(0.01)
    return BackgroundServer(server, thread, bound_port, host)
