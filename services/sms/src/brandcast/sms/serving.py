"""Serving an ASGI app with uvicorn from inside a process (emulator, tests)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0
) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Run an ASGI app with uvicorn in a daemon thread; returns once it accepts requests."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the HTTP server did not start")
        time.sleep(0.01)
    return server, thread, sock.getsockname()[1]
