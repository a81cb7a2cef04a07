"""A real orchestrator gRPC server in this process (SQLite, no dispatcher) for client tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from brandcast.orchestrator.server import Orchestrator, bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings

TOKEN = "client-test-token"


@dataclass
class Served:
    address: str
    token: str
    orchestrator: Orchestrator


@contextmanager
def serve(tmp_path: Path) -> Iterator[Served]:
    settings = OrchestratorSettings(
        database_url=f"sqlite:///{tmp_path / 'client.db'}",
        grpc_address="127.0.0.1:0",
        api_tokens=TOKEN,
    )
    app = bootstrap(settings, dispatch=False, collect=False)
    server, port = create_server(settings, app)
    server.start()
    app.start()
    try:
        yield Served(f"127.0.0.1:{port}", TOKEN, app)
    finally:
        server.stop(0).wait()
        app.stop()
