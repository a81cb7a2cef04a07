"""TLS and the bearer token, from arguments or from BRANDCAST_* variables, against a real
orchestrator serving TLS with a certificate made in the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.client import AuthenticationError, Client, RetryPolicy, UnavailableError
from brandcast.client.cli import main
from brandcast.orchestrator.server import bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from tests.integration.client.test_client_sync import sms_spec
from tests.integration.orchestrator.test_orchestrator_server_lifecycle import self_signed

TOKEN = "tls-token"


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path)
    settings = OrchestratorSettings(
        database_url=f"sqlite:///{tmp_path / 'tls.db'}",
        grpc_address="127.0.0.1:0",
        api_tokens=TOKEN,
        grpc_tls_cert_file=cert,
        grpc_tls_key_file=key,
    )
    app = bootstrap(settings, dispatch=False, collect=False)
    server, port = create_server(settings, app)
    server.start()
    app.start()
    try:
        yield f"localhost:{port}", cert
    finally:
        server.stop(0).wait()
        app.stop()


def test_tls_and_token_from_the_environment(
    tls_server: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    address, ca = tls_server
    monkeypatch.setenv("BRANDCAST_ADDRESS", address)
    monkeypatch.setenv("BRANDCAST_TOKEN", TOKEN)
    monkeypatch.setenv("BRANDCAST_TLS_CA", str(ca))
    with Client() as client:
        assert client.config.uses_tls
        campaign = client.submit_campaign(sms_spec(2)).campaign
        assert client.get_campaign(campaign.id).audience_size == 2
    assert main(["status", campaign.id]) == 0
    assert campaign.id in capsys.readouterr().out


def test_tls_and_token_from_arguments_and_what_fails_without_them(
    tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, ca = tls_server
    for name in ("BRANDCAST_ADDRESS", "BRANDCAST_TOKEN", "BRANDCAST_TLS_CA"):
        monkeypatch.delenv(name, raising=False)
    with Client(address, token=TOKEN, tls_ca=ca) as client:
        assert client.submit_campaign(sms_spec(1)).campaign.audience_size == 1
    with Client(address, tls_ca=ca) as anonymous, pytest.raises(AuthenticationError):
        anonymous.get_campaign("x")
    once = RetryPolicy(attempts=1)
    with Client(address, token=TOKEN, retry=once) as plaintext:
        assert not plaintext.config.uses_tls
        with pytest.raises(UnavailableError):
            plaintext.get_campaign("x", timeout=5)
