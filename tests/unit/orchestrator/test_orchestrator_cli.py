"""The brandcast CLI: campaign files, local preview, and send/status over real gRPC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brandcast.orchestrator.cli import CampaignFileError, load_campaign, main
from brandcast.orchestrator.server import bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.v1 import campaign_pb2

EXAMPLE = Path(__file__).parents[3] / "examples" / "spring-launch.yaml"


def test_example_file_is_a_campaign_spec() -> None:
    spec = load_campaign(EXAMPLE)
    assert spec.channels.email.enabled
    assert spec.channels.sms.enabled
    assert {a.network for a in spec.brand_kit.social_accounts} == {
        campaign_pb2.SOCIAL_NETWORK_MASTODON,
        campaign_pb2.SOCIAL_NETWORK_BLUESKY,
        campaign_pb2.SOCIAL_NETWORK_X,
        campaign_pb2.SOCIAL_NETWORK_LINKEDIN,
    }
    assert any(r.locale == "fr" for r in spec.audience)


def test_misspelt_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ncore_mesage: {headline: hi}\n")
    with pytest.raises(CampaignFileError, match="core_mesage"):
        load_campaign(path)


def test_preview_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", str(EXAMPLE), "--json"]) == 0
    variants = json.loads(capsys.readouterr().out)
    email = [v for v in variants if v["channel"] == "email"]
    sms = [v for v in variants if v["channel"] == "sms"]
    social = [v for v in variants if v["channel"] == "social"]
    assert len(email) == 4
    assert len(sms) == 4
    assert {v["network"] for v in social} == {"mastodon", "bluesky", "x", "linkedin"}
    assert all({"subject", "preheader", "html", "text", "warnings"} <= set(v) for v in email)
    assert all(v["encoding"] in {"gsm7", "ucs2"} and v["segments"] >= 1 for v in sms)
    assert all(v["length"] > 0 for v in social)


def test_send_and_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = OrchestratorSettings(
        database_url=f"sqlite:///{tmp_path / 'cli.db'}", grpc_address="127.0.0.1:0", api_tokens="t"
    )
    app = bootstrap(settings, dispatch=False, collect=False)
    server, port = create_server(settings, app)
    server.start()
    try:
        address = ["--address", f"127.0.0.1:{port}", "--token", "t"]
        assert main(["send", str(EXAMPLE), *address]) == 0
        campaign_id = capsys.readouterr().out.split()[-1]
        assert main(["status", campaign_id, *address]) == 0
        out = capsys.readouterr().out
        assert campaign_id in out
        assert "dispatching" in out
        assert "email        4 total: pending 4" in out
        assert main(["status", campaign_id, "--address", f"127.0.0.1:{port}"]) == 1
        assert "UNAUTHENTICATED" in capsys.readouterr().err
    finally:
        server.stop(0).wait()
        app.stop()


def test_preview_names_a_malformed_url_instead_of_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text().replace("ctaUrl: https://", "ctaUrl: http://[::1", 1)
    assert "http://[::1" in text
    path = tmp_path / "bad-url.yaml"
    path.write_text(text)
    assert main(["preview", str(path), "--json"]) == 2
    assert "core_message.cta_url" in capsys.readouterr().err


def test_preview_refuses_a_phone_number_that_send_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_campaign(EXAMPLE)
    phones = [i for i, r in enumerate(spec.audience) if r.phone]
    assert phones
    text = EXAMPLE.read_text().replace(spec.audience[phones[0]].phone, "12345", 1)
    path = tmp_path / "bad-phone.yaml"
    path.write_text(text)
    assert main(["preview", str(path), "--json"]) == 2
    assert f"spec.audience[{phones[0]}].phone" in capsys.readouterr().err
