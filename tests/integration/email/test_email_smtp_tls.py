"""STARTTLS, implicit TLS and AUTH against the sink with a self-signed certificate."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.email.message import message_from_item
from brandcast.email.providers.smtp import Security, SmtpProvider
from brandcast.email.sandbox.samples import sample_batch, sample_item
from brandcast.email.sandbox.smtp_sink import SinkController, start_sink, wait_for_messages
from brandcast.shared.errors import TransientProviderError

CREDENTIALS = ("mailer", "s3cret-pass")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def starttls_sink(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[SinkController]:
    controller, _ = start_sink(
        tmp_path / "mail", starttls=server_context(certificate), credentials=CREDENTIALS
    )
    yield controller
    controller.stop()


def send(provider: SmtpProvider, address: str = "reader@example.org") -> None:
    item = sample_item(address)
    try:
        provider.send(message_from_item(sample_batch([item]), item), idempotency_key="k")
    finally:
        provider.close()


def provider_for(
    sink: SinkController,
    security: Security,
    certificate: tuple[Path, Path],
    password: str = CREDENTIALS[1],
    *,
    trusted: bool = True,
) -> SmtpProvider:
    return SmtpProvider(
        "127.0.0.1",
        sink.port,
        security=security,
        username=CREDENTIALS[0],
        password=password,
        timeout=5,
        tls_context=client_context(certificate) if trusted else None,
    )


def test_starttls_with_auth_delivers(
    starttls_sink: SinkController, certificate: tuple[Path, Path]
) -> None:
    send(provider_for(starttls_sink, "starttls", certificate))
    [entry] = wait_for_messages(starttls_sink.handler.directory, 1)
    assert entry["rcpt_tos"] == ["reader@example.org"]


def test_wrong_password_is_an_outage_not_a_failed_delivery(
    starttls_sink: SinkController, certificate: tuple[Path, Path]
) -> None:
    with pytest.raises(TransientProviderError) as caught:
        send(provider_for(starttls_sink, "starttls", certificate, password="guess"))
    assert (caught.value.code, caught.value.outage) == ("535", True)


def test_plain_session_refused_by_a_tls_only_server_is_an_outage(
    starttls_sink: SinkController,
) -> None:
    plain = SmtpProvider("127.0.0.1", starttls_sink.port, timeout=5)
    with pytest.raises(TransientProviderError) as caught:
        send(plain)
    assert (caught.value.code, caught.value.outage) == ("530", True)
    assert starttls_sink.handler.directory.joinpath("index.jsonl").exists() is False


def test_untrusted_certificate_is_refused(
    starttls_sink: SinkController, certificate: tuple[Path, Path]
) -> None:
    with pytest.raises(TransientProviderError) as caught:
        send(provider_for(starttls_sink, "starttls", certificate, trusted=False))
    assert caught.value.outage
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message


def test_implicit_tls_delivers(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    controller, _ = start_sink(
        tmp_path / "mail", implicit_tls=server_context(certificate), credentials=CREDENTIALS
    )
    try:
        send(provider_for(controller, "tls", certificate))
        [entry] = wait_for_messages(controller.handler.directory, 1)
        assert entry["rcpt_tos"] == ["reader@example.org"]
        with pytest.raises(TransientProviderError) as caught:  # AUTH is really checked
            send(provider_for(controller, "tls", certificate, password="guess"))
        assert caught.value.code == "535"
    finally:
        controller.stop()
