"""brandcast-client installs alone, from uv.lock, into a clean venv, and that venv alone
drives a 100,000-recipient campaign against a real orchestrator server in flat memory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.client.harness import Served, serve

REPO = Path(__file__).resolve().parents[3]
SIZE = 100_000
#: The issue's bound on the client's peak resident memory.
PEAK_RSS_MB = 80
#: Both tests on one worker, so the venv (a minute of installing) is made once.
pytestmark = pytest.mark.xdist_group("client_venv")


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert shutil.which("uv"), "uv must be on PATH"
    venv = tmp_path_factory.mktemp("client") / "venv"
    env = {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
    # The same script the service images install with: export the package's closure
    # from the lock file, then install exactly that, nothing re-resolved.
    result = subprocess.run(
        ["sh", "deploy/install-package.sh", "brandcast-client", str(venv)],
        cwd=REPO,
        env=env | {"PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def served_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("server")) as running:
        yield running


def _run(venv: Path, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=venv,  # not the repository: nothing importable from the working tree
        env={"PATH": os.environ["PATH"], "PYTHONNOUSERSITE": "1"},
    )


@pytest.mark.slow
def test_client_installs_alone_without_the_server(client_venv: Path) -> None:
    absent = ["brandcast.orchestrator", "brandcast.shared", "sqlalchemy", "jinja2", "kombu",
              "psycopg", "pytest"]  # fmt: skip
    probe = (
        "import importlib.util as u, brandcast.client, brandcast.v1.campaign_service_pb2; "
        f"print([m for m in {absent!r} if u.find_spec(m.split('.')[0]) and u.find_spec(m)])"
    )
    result = _run(client_venv, "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    cli = subprocess.run(
        [str(client_venv / "bin" / "brandcast"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert "BRANDCAST_ADDRESS" in cli.stdout


@pytest.mark.slow
def test_the_installed_client_streams_100k_recipients_in_flat_memory(
    client_venv: Path, served_module: Served
) -> None:
    script = Path(__file__).with_name("large_audience.py")
    result = _run(
        client_venv, str(script), served_module.address, served_module.token, str(SIZE),
        timeout=280,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    print(f"\nclient_100k {figures}")
    assert figures["recipients_received"] == SIZE
    assert figures["progress_calls"] == SIZE // 1000
    assert figures["cancelled"] == SIZE
    # Watched after the cancel: one event per delivery, in its final state, none twice.
    assert figures["delivery_events"] == figures["cancelled_events"] == SIZE
    assert figures["cursors_out_of_order"] == 0
    assert figures["final_cancelled"] == SIZE
    assert figures["paged_cancelled"] == SIZE
    assert figures["peak_rss_mb"] < PEAK_RSS_MB
