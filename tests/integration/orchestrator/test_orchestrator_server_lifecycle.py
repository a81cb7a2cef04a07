"""The gRPC server's edges: TLS, client deadlines, draining, idempotency key retention."""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from brandcast.orchestrator.housekeeping import Housekeeper
from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.server import Orchestrator, bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.orchestrator.store import Store
from brandcast.shared.devstack import wait_until
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

S = campaign_pb2
API = campaign_service_pb2


def spec(recipients: int = 2, *, name: str = "Lifecycle") -> S.CampaignSpec:
    return S.CampaignSpec(
        name=name,
        brand_kit=S.BrandKit(
            name="Acme",
            email_sender=S.EmailSender(address="news@acme.example.com"),
            postal_address="1 Market St, San Francisco, CA 94105",
        ),
        core_message=S.CoreMessage(headline="Spring blend", body="Ours."),
        channels=S.ChannelSettings(email=S.EmailSettings(enabled=True)),
        audience=[S.Recipient(id=f"r{i}", email=f"r{i}@example.com") for i in range(recipients)],
    )


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Running:
    def __init__(self, settings: OrchestratorSettings) -> None:
        self.app: Orchestrator = bootstrap(settings, dispatch=False, collect=False)
        self.server, self.port = create_server(settings, self.app)
        self.server.start()
        self.app.start()
        self.address = f"127.0.0.1:{self.port}"

    def stop(self, grace: float = 0) -> None:
        self.app.set_serving(False)
        self.app.events.close()
        self.server.stop(grace).wait()
        self.app.stop()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    server = Running(
        OrchestratorSettings(
            database_url=f"sqlite:///{tmp_path / 'orchestrator.db'}", grpc_address="127.0.0.1:0"
        )
    )
    try:
        yield server
    finally:
        server.stop()


def test_tls_serves_secure_clients_only(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = Running(
        OrchestratorSettings(
            database_url=f"sqlite:///{tmp_path / 'orchestrator.db'}",
            grpc_address="127.0.0.1:0",
            grpc_tls_cert_file=cert,
            grpc_tls_key_file=key,
        )
    )
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(server.address, credentials) as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            accepted = stub.SubmitCampaign(API.SubmitCampaignRequest(spec=spec()), timeout=10)
            assert accepted.campaign.audience_size == 2
        with grpc.insecure_channel(server.address) as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetCampaign(API.GetCampaignRequest(campaign_id="x"), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


def test_tls_settings_come_in_pairs(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    with pytest.raises(ValidationError, match="GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE"):
        OrchestratorSettings(grpc_tls_cert_file=cert)
    with pytest.raises(ValidationError, match="does not exist"):
        OrchestratorSettings(grpc_tls_cert_file=cert, grpc_tls_key_file=tmp_path / "missing.key")
    with pytest.raises(ValidationError, match="idempotency_retention_hours"):
        OrchestratorSettings(idempotency_retention_hours=12)


def test_stream_submit_stops_at_the_clients_deadline(running: Running) -> None:
    release = threading.Event()

    def slow_upload() -> Iterator[API.SubmitCampaignStreamRequest]:
        yield API.SubmitCampaignStreamRequest(
            header=API.SubmitCampaignRequest(spec=spec(0), idempotency_key="slow")
        )
        yield API.SubmitCampaignStreamRequest(
            chunk=API.RecipientChunk(
                recipients=[S.Recipient(id=f"s{i}", email=f"s{i}@example.com") for i in range(50)]
            )
        )
        release.wait(30)  # the client stalls past its own deadline

    with grpc.insecure_channel(running.address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        with pytest.raises(grpc.RpcError) as ended:
            stub.SubmitCampaignStream(slow_upload(), timeout=1.0)
        release.set()
        assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The server stopped reading and rolled back: nothing of it was stored,
        # and the key is free for the retry.
        assert running.app.store.list_campaigns(10)[0] == []
        retried = stub.SubmitCampaignStream(
            iter(
                [
                    API.SubmitCampaignStreamRequest(
                        header=API.SubmitCampaignRequest(spec=spec(3), idempotency_key="slow")
                    ),
                    API.SubmitCampaignStreamRequest(end=API.StreamEnd(recipient_count=3)),
                ]
            ),
            timeout=10,
        )
        assert not retried.duplicate
        assert retried.recipients_received == 3


def test_watch_ends_with_unavailable_on_drain(running: Running) -> None:
    with grpc.insecure_channel(running.address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        cid = stub.SubmitCampaign(API.SubmitCampaignRequest(spec=spec()), timeout=10).campaign.id
        # No dispatcher: the campaign stays unsettled and the watch stays open.
        stream = stub.WatchCampaign(API.WatchCampaignRequest(campaign_id=cid), timeout=60)
        first = next(stream)
        assert first.progress.counters[0].pending == 2
        stopper = threading.Thread(target=running.stop, kwargs={"grace": 30})
        stopper.start()
        with pytest.raises(grpc.RpcError) as ended:
            for _ in stream:
                pass
        stopper.join(30)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    # Our own status (not the grace period running out): the client is told to resume.
    assert "resume the watch from the last cursor" in (ended.value.details() or "")


@pytest.mark.parametrize("hours_later", [47, 49])
def test_idempotency_keys_are_kept_for_the_retention(database_url: str, hours_later: int) -> None:
    store = Store.open(database_url)
    try:
        intake = CampaignIntake(store)
        first = intake.submit(API.SubmitCampaignRequest(spec=spec(), idempotency_key="k-1"))
        later = time.time() + hours_later * 3600
        keeper = Housekeeper(store, idempotency_retention_hours=48, clock=lambda: later)
        released = keeper.run_once()
        other = API.SubmitCampaignRequest(spec=spec(name="Another"), idempotency_key="k-1")
        if hours_later < 48:
            assert released == 0
            again = intake.submit(API.SubmitCampaignRequest(spec=spec(), idempotency_key="k-1"))
            assert again.duplicate
            assert again.campaign.id == first.campaign.id
        else:
            assert released == 1
            # The key is free: the campaign stays, the reservation does not.
            fresh = intake.submit(other)
            assert not fresh.duplicate
            assert fresh.campaign.id != first.campaign.id
            assert store.get_campaign(first.campaign.id) is not None
    finally:
        store.close()


def test_housekeeping_runs_in_the_background(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'o.db'}")
    try:
        CampaignIntake(store).submit(API.SubmitCampaignRequest(spec=spec(), idempotency_key="old"))
        later = time.time() + 100 * 3600
        keeper = Housekeeper(
            store, idempotency_retention_hours=24, interval=0.05, clock=lambda: later
        )
        keeper.start()
        try:
            wait_until(
                lambda: store.find_by_idempotency_key("old") is None, 10, "the key to be released"
            )
        finally:
            keeper.stop()
    finally:
        store.close()
